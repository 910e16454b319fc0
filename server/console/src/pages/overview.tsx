// Overview: admin.stats, live through admin.onStats, with charts of tasks by status and queue depth over the last hour.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, messageOf, STATUS_LABELS, TASK_STATUSES, type Stats } from '../api.ts';
import { TimeChart, type ChartSeries } from '../chart.tsx';
import { Alert, Status, TableRegion } from '../ui.tsx';

const HOUR = 3600;

/**
 * What the console has seen this past hour, kept while the page is open (across its pages): the stream sends
 * the counts when they change, so each sample holds until the next. The API keeps no history of counts.
 */
const samples: { time: number; stats: Stats }[] = [];
const REPEAT_SECONDS = 30;

function record(stats: Stats, time = Date.now() / 1000): void {
  samples.push({ time, stats });
  while (samples.length > 0 && samples[0].time < time - HOUR) samples.shift();
}

const isDeadLetter = (queue: string): boolean => queue.endsWith('.dead');

function queueTotals(stats: Stats) {
  let queued = 0;
  let active = 0;
  let dead = 0;
  for (const [name, counts] of Object.entries(stats.queues)) {
    if (isDeadLetter(name)) dead += counts.queued;
    else {
      queued += counts.queued;
      active += counts.active;
    }
  }
  return { queued, active, dead };
}

export function OverviewPage() {
  const [stats, setStats] = useState<Stats | null>(samples.at(-1)?.stats ?? null);
  const [version, setVersion] = useState(0);
  const [live, setLive] = useState<'connecting' | 'live' | 'lost'>('connecting');
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const subscription = api.admin.onStats.subscribe(undefined, {
      onStarted: () => setLive('live'),
      onData: ({ data }) => {
        record(data);
        setStats(data);
        setVersion((n) => n + 1);
        setLive('live');
        setError(null);
      },
      onError: (failure) => {
        setLive('lost');
        setError(messageOf(failure));
      },
      onConnectionStateChange: (state) => {
        if (state.state === 'connecting' && state.error) setLive('lost');
      },
    });
    // Counts that do not change still mean "nothing changed since": the charts' lines reach now.
    const repeat = setInterval(() => {
      const last = samples.at(-1);
      if (last) {
        record(last.stats);
        setVersion((n) => n + 1);
      }
    }, REPEAT_SECONDS * 1000);
    return () => {
      clearInterval(repeat);
      subscription.unsubscribe();
    };
  }, []);

  const charts = useMemo(() => {
    const times = samples.map((sample) => sample.time);
    const tasks: ChartSeries[] = TASK_STATUSES.map((status) => ({ label: STATUS_LABELS[status], values: samples.map((sample) => sample.stats.tasks[status] ?? 0) }));
    const totals = samples.map((sample) => queueTotals(sample.stats));
    const queues: ChartSeries[] = [
      { label: 'Queued', values: totals.map((total) => total.queued) },
      { label: 'Active', values: totals.map((total) => total.active) },
      { label: 'Dead-letter (waiting)', values: totals.map((total) => total.dead) },
    ];
    return { times, tasks, queues };
    // `version` moves with every sample recorded.
  }, [version]);

  return (
    <>
      <h1>Overview</h1>
      <Status>{live === 'live' ? 'Live: the numbers update as they change.' : live === 'connecting' ? 'Connecting…' : 'Live updates lost: reconnecting…'}</Status>
      <Alert message={error} />
      {stats ? (
        <>
          <section aria-labelledby="counts-heading">
            <h2 id="counts-heading">Counts</h2>
            <dl class="cards">
              <Card label="Users" stat="users.total" value={stats.users.total} detail={{ stat: 'users.active', value: stats.users.active, text: 'active' }} />
              <Card label="Active sessions" stat="activeSessions" value={stats.activeSessions} />
              <Card label="Posts" stat="posts.total" value={stats.posts.total} detail={{ stat: 'posts.published', value: stats.posts.published, text: 'published' }} />
              <Card label="Stranded tasks" stat="strandedTasks" value={stats.strandedTasks} />
              <Card label="Job outbox" stat="outbox.pending" value={stats.outbox.pending} note={stats.outbox.oldestAgeSeconds === null ? 'nothing waiting' : `oldest waited ${Math.round(stats.outbox.oldestAgeSeconds)} s`} />
            </dl>
          </section>
          <div class="columns">
            <section aria-labelledby="tasks-heading">
              <h2 id="tasks-heading">Tasks by status</h2>
              <TableRegion label="Tasks by status">
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Status</th>
                      <th scope="col" class="number">Tasks</th>
                    </tr>
                  </thead>
                  <tbody>
                    {TASK_STATUSES.map((status) => (
                      <tr key={status}>
                        <th scope="row">{STATUS_LABELS[status]}</th>
                        <td class="number" data-stat={`tasks.${status}`}>
                          {stats.tasks[status] ?? 0}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </TableRegion>
              <TimeChart title="Tasks by status, last hour" times={charts.times} series={charts.tasks} windowSeconds={HOUR} />
            </section>
            <section aria-labelledby="queues-heading">
              <h2 id="queues-heading">Queue depth</h2>
              <TableRegion label="Queue depth">
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Queue</th>
                      <th scope="col" class="number">Queued</th>
                      <th scope="col" class="number">Active</th>
                      <th scope="col" class="number">Failed</th>
                      <th scope="col" class="number">Failed (24 h)</th>
                    </tr>
                  </thead>
                  <tbody>
                    {Object.entries(stats.queues).map(([name, counts]) => (
                      <tr key={name}>
                        <th scope="row">{name}</th>
                        <td class="number" data-stat={`queues.${name}.queued`}>
                          {counts.queued}
                        </td>
                        <td class="number" data-stat={`queues.${name}.active`}>
                          {counts.active}
                        </td>
                        <td class="number" data-stat={`queues.${name}.failed`}>
                          {counts.failed}
                        </td>
                        <td class="number" data-stat={`queues.${name}.failedLast24h`}>
                          {counts.failedLast24h}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </TableRegion>
              <TimeChart title="Queue depth, last hour" times={charts.times} series={charts.queues} windowSeconds={HOUR} />
            </section>
          </div>
        </>
      ) : (
        <p>Loading the numbers…</p>
      )}
    </>
  );
}

type CardProps = { label: string; stat: string; value: number; detail?: { stat: string; value: number; text: string }; note?: string };

function Card({ label, stat, value, detail, note }: CardProps) {
  return (
    <div class="card">
      <dt>{label}</dt>
      <dd class="big" data-stat={stat}>
        {value}
      </dd>
      {detail ? (
        <dd>
          <span data-stat={detail.stat}>{detail.value}</span> {detail.text}
        </dd>
      ) : null}
      {note ? <dd>{note}</dd> : null}
    </div>
  );
}
