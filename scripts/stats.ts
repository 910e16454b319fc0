// npm run stats -- --url https://api.example.com --token abs_…: prints admin.stats as tables, the way an
// internal tool uses the SDK. The token must be an admin's (a session or an API token).
import { parseArgs } from 'node:util';
import { createClient, isApiError } from '../client-sdk/src/index.ts';

const { values } = parseArgs({
  options: { url: { type: 'string', default: process.env.API_URL ?? 'http://127.0.0.1:3000' }, token: { type: 'string', default: process.env.API_TOKEN } },
});
if (!values.token) {
  console.error('stats: pass --token (an admin session or API token) or set API_TOKEN');
  process.exit(1);
}

const api = createClient({ url: values.url, token: values.token });
try {
  const [stats, health] = await Promise.all([api.admin.stats.query(), api.health.check.query()]);
  console.log(`${values.url}: version ${health.version} on ${health.dialect}, up ${health.uptimeSeconds} s\n`);
  console.table({
    users: { count: stats.users.total },
    'active users': { count: stats.users.active },
    'active sessions': { count: stats.activeSessions },
    posts: { count: stats.posts.total },
    'published posts': { count: stats.posts.published },
    'stranded tasks (the sweep repairs them)': { count: stats.strandedTasks },
  });
  console.log('tasks by status');
  console.table(Object.fromEntries(Object.entries(stats.tasks).map(([status, count]) => [status, { count }])));
  console.log('job queues');
  console.table(stats.queues);
  const { pending, oldestAgeSeconds } = stats.outbox;
  console.log(`job outbox: ${pending} pending${oldestAgeSeconds === null ? '' : `, oldest ${Math.round(oldestAgeSeconds)} s`}`);
} catch (error) {
  if (isApiError(error)) {
    console.error(`stats: ${error.data.code}: ${error.message}${error.data.requestId ? ` (request ${error.data.requestId})` : ''}`);
  } else {
    console.error(`stats: cannot reach ${values.url}: ${error instanceof Error ? error.message : String(error)}`);
  }
  process.exit(1);
}
