// Bare pg-boss for the benchmark: `node jobs-baseline.ts <postgres url> <concurrency>` (forked, with IPC) starts
// pg-boss, works a queue with a no-op handler, and then runs one round per message `{ jobs }`: it sends that many
// jobs, waits until all are completed, and answers {"jobs", "seconds", "cpuMicros", "postgresCpuMicros"}: the
// round's time, its own CPU time and Postgres' over the same span. One process for every round, as our API and
// worker are, so its JIT and pools are as warm as theirs.
import pg from 'pg';
import { PgBoss } from 'pg-boss';
import { postgresCpuMicros } from './proc.ts';

const [url, concurrencyArg] = process.argv.slice(2);
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
const completed = async () => (await pool.query<{ n: number }>("select count(*)::int as n from bench_boss.job where name = 'bench' and state = 'completed'")).rows[0].n;

async function round(jobs: number) {
  const already = await completed();
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  const postgresBefore = postgresCpuMicros();
  for (let sent = 0; sent < jobs; sent += 50) {
    await Promise.all(Array.from({ length: Math.min(50, jobs - sent) }, (_, i) => boss.send('bench', { n: sent + i })));
  }
  while ((await completed()) - already < jobs) await new Promise((resolve) => setTimeout(resolve, 20));
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  return { jobs, seconds, cpuMicros: cpu.user + cpu.system, postgresCpuMicros: postgresCpuMicros() - postgresBefore };
}

// One round at a time: the bench waits for each answer before it asks again.
process.on('message', (message: { jobs: number }) => {
  round(message.jobs).then(
    (result) => process.send!(result),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
});
process.on('disconnect', () => {
  void boss.stop({ graceful: false }).then(() => pool.end());
});
process.send!({ ready: true });
