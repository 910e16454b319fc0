// docs/grafana's dashboard against a live API: every metric it queries is in /metrics, and a real Prometheus
// scraping the API gets data for every panel's query.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { uniqueName } from './testing/factories.ts';
import { dialects, useTestServer } from './testing/harness.ts';
import { freePort } from './testing/ports.ts';

const TOKEN = 'metrics-token-for-dashboard-tests-0123';
/** Debian's package (`.ci/run` installs it); TEST_PROMETHEUS points elsewhere. */
const prometheusBinary = process.env.TEST_PROMETHEUS ?? '/usr/bin/prometheus';

type Target = { refId: string; expr: string };
type Panel = { id: number; type: string; title: string; datasource?: { uid: string }; targets?: Target[]; panels?: Panel[] };
const dashboard = JSON.parse(readFileSync(new URL('../docs/grafana/ai-backend-service.json', import.meta.url), 'utf8')) as { uid: string; panels: Panel[] };
const graphPanels = dashboard.panels.filter((panel) => panel.type !== 'row');
const queries = graphPanels.flatMap((panel) => (panel.targets ?? []).map((target) => ({ panel: panel.title, expr: target.expr })));

const PROMQL_WORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'offset', 'bool', 'inf', 'nan']);

/** The metric names a PromQL expression reads: identifiers that are not functions, keywords or label names. */
export function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(by|without|on|ignoring)\s*\([^)]*\)/g, '');
  const names = new Set<string>();
  for (const match of bare.matchAll(/([A-Za-z_:][A-Za-z0-9_:]*)\s*(\()?/g)) {
    if (match[2] || PROMQL_WORDS.has(match[1].toLowerCase()) || /^\d/.test(match[1])) continue;
    // An exponent such as 1e-9 splits into "1" and "e": skip what follows a digit.
    if (match.index > 0 && /[0-9.]/.test(bare[match.index - 1])) continue;
    names.add(match[1]);
  }
  return [...names];
}

/** A histogram's series (`_bucket`, `_count`, `_sum`) are declared under its base name. */
const declaredName = (name: string, types: Map<string, string>): string | undefined => {
  if (types.has(name)) return name;
  const base = name.replace(/_(bucket|count|sum)$/, '');
  return types.get(base) === 'histogram' ? base : undefined;
};

/** Grafana's own variables, as Prometheus needs them spelled out. */
const forPrometheus = (expr: string): string => expr.replaceAll('$__rate_interval', '30s').replaceAll('$__interval', '5s');

describe('the Grafana dashboard (docs/grafana/ai-backend-service.json)', () => {
  it('covers what operators watch, with one datasource and a query per panel', () => {
    expect(dashboard.uid).toBe('ai-backend-service');
    expect(new Set(dashboard.panels.map((panel) => panel.id)).size).toBe(dashboard.panels.length);
    for (const panel of graphPanels) {
      expect(panel.datasource?.uid, panel.title).toBe('prometheus');
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
    }
    const read = new Set(queries.flatMap(({ expr }) => metricNames(expr)));
    for (const name of [
      'trpc_procedure_duration_seconds_count',
      'trpc_procedure_duration_seconds_bucket',
      'job_duration_seconds_count',
      'job_duration_seconds_bucket',
      'job_queue_jobs',
      'job_outbox_rows',
      'db_pool_connections',
      'nodejs_eventloop_lag_p99_seconds',
      'process_resident_memory_bytes',
      'http_requests_shed_total',
    ]) {
      expect(read, name).toContain(name);
    }
  });

  it("is what compose's monitoring profile provisions, scraping the API and the worker with their token", () => {
    type Service = { environment?: Record<string, string>; volumes?: string[]; profiles?: string[] };
    const compose = parse(readFileSync('compose.yaml', 'utf8'), { merge: true }) as { services: Record<string, Service> };
    const scrape = parse(readFileSync('docs/grafana/prometheus.yml', 'utf8')) as {
      scrape_configs: { authorization: { credentials: string }; static_configs: { targets: string[] }[] }[];
    };
    const datasource = parse(readFileSync('docs/grafana/provisioning/datasources/prometheus.yaml', 'utf8')) as { datasources: { uid: string; url: string }[] };
    const { api, worker, prometheus, grafana } = compose.services;
    expect(prometheus.profiles).toEqual(['monitoring']);
    expect(grafana.profiles).toEqual(['monitoring']);
    expect(scrape.scrape_configs[0].authorization.credentials).toBe(api.environment?.METRICS_TOKEN);
    expect(worker.environment?.METRICS_TOKEN).toBe(api.environment?.METRICS_TOKEN);
    expect(scrape.scrape_configs[0].static_configs.flatMap((config) => config.targets).sort()).toEqual(['api:3000', `worker:${worker.environment?.WORKER_PORT}`]);
    expect(prometheus.volumes).toContain('./docs/grafana/prometheus.yml:/etc/prometheus/prometheus.yml:ro');
    expect(grafana.volumes).toContain('./docs/grafana/provisioning:/etc/grafana/provisioning:ro');
    expect(grafana.volumes).toContain('./docs/grafana/ai-backend-service.json:/var/lib/grafana/dashboards/ai-backend-service.json:ro');
    expect(datasource.datasources.map((source) => source.uid)).toEqual(['prometheus']);
    expect(datasource.datasources[0].url).toBe('http://prometheus:9090');
  });

  it('reads metric names out of PromQL, not functions, labels or numbers', () => {
    expect(metricNames('histogram_quantile(0.95, sum by (path, le) (rate(a_bucket{code!="OK"}[$__rate_interval])))')).toEqual(['a_bucket']);
    expect(metricNames('sum(rate(x_total[1m])) / clamp_min(sum(rate(y_count[1m])), 1e-9) or vector(0)')).toEqual(['x_total', 'y_count']);
  });
});

describe.each(dialects)('the dashboard against a live API on %s', (dialect) => {
  const app = useTestServer(dialect, { env: { METRICS_TOKEN: TOKEN, QUEUE_POLLING_INTERVAL_SECONDS: '0.5' }, work: true });
  let prometheus: ChildProcess | null = null;
  let dataDir: string | null = null;
  afterAll(async () => {
    if (prometheus && prometheus.exitCode === null) {
      const exited = new Promise((resolve) => prometheus?.once('exit', resolve));
      prometheus.kill('SIGTERM');
      await exited;
    }
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  /** Calls that succeed, fail and enqueue jobs (a registration sends the welcome e-mail job). */
  async function traffic(): Promise<void> {
    await fetch(`${app.url}/trpc/health.check`);
    await fetch(`${app.url}/trpc/auth.me`);
    const username = uniqueName('dash');
    await fetch(`${app.url}/trpc/auth.register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ json: { username, email: `${username}@example.com`, password: 'correct horse battery staple' } }),
    });
  }

  it('finds every metric the dashboard queries declared in /metrics', async () => {
    await traffic();
    const response = await fetch(`${app.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(response.status).toBe(200);
    const types = new Map<string, string>();
    for (const match of (await response.text()).matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(match[1], match[2]);
    for (const { panel, expr } of queries) {
      for (const name of metricNames(expr)) expect(declaredName(name, types), `${panel}: ${name}`).toBeDefined();
    }
  });

  it.skipIf(!existsSync(prometheusBinary))(
    'gives a real Prometheus data for every panel (the pool panel on Postgres only: SQLite has no pool)',
    async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'abs-prometheus-'));
      const port = await freePort();
      const target = new URL(app.url).host;
      writeFileSync(
        join(dataDir, 'prometheus.yml'),
        [
          'global: { scrape_interval: 1s, evaluation_interval: 1s }',
          'scrape_configs:',
          '  - job_name: api',
          '    metrics_path: /metrics',
          `    authorization: { credentials: ${TOKEN} }`,
          `    static_configs: [{ targets: ['${target}'] }]`,
          '',
        ].join('\n'),
      );
      let output = '';
      prometheus = spawn(
        prometheusBinary,
        [`--config.file=${join(dataDir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dataDir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      prometheus.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
      prometheus.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));

      const query = async (expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[] | null> => {
        try {
          const response = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(forPrometheus(expr))}`);
          if (response.status === 503) return null; // starting: not ready to answer queries yet
          const body = (await response.json()) as { status: string; error?: string; data?: { result: { metric: Record<string, string>; value: [number, string] }[] } };
          if (body.status !== 'success') throw new Error(`${expr}: ${body.error}`);
          return body.data?.result ?? [];
        } catch (error) {
          if (error instanceof TypeError) return null; // not listening yet
          throw error;
        }
      };
      const poolPanel = (expr: string) => expr.includes('db_pool_connections');
      // A pool exists on a Postgres server only: not beside SQLite, nor on PGlite (Postgres tests without TEST_DATABASE_URL).
      const hasPool = app.deps.db.poolStats() !== null;
      expect(hasPool).toBe(dialect === 'postgres' && app.deps.db.source.kind === 'postgres');
      const expectsData = (expr: string) => !poolPanel(expr) || hasPool;

      // Traffic all along, so every rate has something to measure; poll each query until it has data.
      const deadline = Date.now() + 90_000;
      const pending = new Set(queries.filter(({ expr }) => expectsData(expr)).map(({ expr }) => expr));
      const seen = new Map<string, number>();
      while (pending.size > 0 && Date.now() < deadline) {
        if (prometheus.exitCode !== null) throw new Error(`prometheus exited ${prometheus.exitCode}: ${output}`);
        await traffic();
        for (const expr of pending) {
          const result = await query(expr);
          const finite = (result ?? []).filter((sample) => Number.isFinite(Number(sample.value[1])));
          if (finite.length > 0) {
            pending.delete(expr);
            seen.set(expr, finite.length);
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      expect([...pending], `queries without data (prometheus: ${output.slice(-500)})`).toEqual([]);
      // The scrape itself went through with the token, and the queues the dashboard lists are ours.
      expect((await query('up{job="api"}'))?.[0]?.value[1]).toBe('1');
      const depths = (await query('sum by (queue) (job_queue_jobs)')) ?? [];
      expect(depths.map((sample) => sample.metric.queue).sort()).toEqual([...app.deps.queue.names].sort());
      // Per dialect: the embedded SQLite has no connection pool, so its panel stays empty there.
      for (const { expr } of queries.filter(({ expr }) => poolPanel(expr))) {
        const result = (await query(expr)) ?? [];
        if (!hasPool) expect(result).toEqual([]);
        else expect(result.map((sample) => sample.metric.state).sort()).toEqual(['idle', 'total', 'waiting']);
      }
    },
    120_000,
  );
});
