// Bare pg-boss for the benchmark: `node jobs-baseline.ts <postgres url> <jobs> <concurrency>` sends the jobs,
// works and completes them with a no-op handler, and prints {"jobs", "seconds", "cpuMicros", "postgresCpuMicros"} once all
// are completed: its own CPU time and Postgres' over the same span.
import pg from 'pg';
import { PgBoss } from 'pg-boss';
import { postgresCpuMicros } from './proc.ts';

const [url, jobsArg, concurrencyArg] = process.argv.slice(2);
const jobs = Number(jobsArg);
const boss = new PgBoss({ connectionString: url, schema: 'bench_boss', max: 10, supervise: false, schedule: false });
boss.on('error', (error: Error) => console.error(error.message));
await boss.start();
await boss.createQueue('bench', { retryLimit: 2 });
const pool = new pg.Pool({ connectionString: url, max: 2 });
// The same fetch settings our workers use: batches of `concurrency`, bursting while a backlog lasts.
const concurrency = Number(concurrencyArg);
await boss.work(
  'bench',
  { batchSize: concurrency, burstWhenBatchFull: concurrency > 1, pollingIntervalSeconds: 0.5, perJobResults: true },
  async (batch) => batch.map((job) => ({ id: job.id, status: 'completed' as const })),
);

const started = performance.now();
const cpuBefore = process.cpuUsage();
const postgresBefore = postgresCpuMicros();
for (let sent = 0; sent < jobs; sent += 50) {
  await Promise.all(Array.from({ length: Math.min(50, jobs - sent) }, (_, i) => boss.send('bench', { n: sent + i })));
}
for (;;) {
  const { rows } = await pool.query<{ n: number }>("select count(*)::int as n from bench_boss.job where name = 'bench' and state = 'completed'");
  if (rows[0].n >= jobs) break;
  await new Promise((resolve) => setTimeout(resolve, 20));
}
const seconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuBefore);
console.log(JSON.stringify({ jobs, seconds, cpuMicros: cpu.user + cpu.system, postgresCpuMicros: postgresCpuMicros() - postgresBefore }));
await boss.stop({ graceful: false });
await pool.end();
