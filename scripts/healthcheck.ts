// Exec-form container health probe (the slim image has no curl): GETs /health/live on this container and exits 0 on HTTP 200, else 1.
// Port: HEALTHCHECK_PORT (for the worker: its WORKER_PORT, 3001), else PORT, else 3000; empty values count as unset, as in server/config.ts.

const TIMEOUT_MS = 2_000;

function setting(name: string): string | undefined {
  const value = process.env[name]?.trim();
  return value ? value : undefined;
}

const port = setting('HEALTHCHECK_PORT') ?? setting('PORT') ?? '3000';
const url = `http://127.0.0.1:${port}/health/live`;

function describe(error: unknown): string {
  if (error instanceof Error && error.name === 'TimeoutError') return `no answer within ${TIMEOUT_MS} ms`;
  if (error instanceof Error) {
    // fetch reports connection failures as "fetch failed" with the reason (ECONNREFUSED…) as the cause.
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
    return `${error.message}${cause}`;
  }
  return String(error);
}

let problem: string | undefined;
try {
  const response = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  await response.body?.cancel();
  if (response.status !== 200) problem = `HTTP ${response.status}`;
} catch (error) {
  problem = describe(error);
}

if (problem !== undefined) {
  process.stderr.write(`healthcheck: ${url}: ${problem}\n`);
  process.exit(1);
}
process.exit(0);
