// Jobs: per queue, its failed jobs and its dead-letter queue's waiting jobs, with retry, retry all and delete (jobs.*).
import { useEffect, useState } from 'preact/hooks';
import { api, messageOf, type Job, type QueueInfo, type Stats } from '../api.ts';
import { Alert, formatDate, Json, Status, TableRegion } from '../ui.tsx';

const LIMIT = 50;
type Lists = { failed: Job[]; dead: Job[]; moreFailed: boolean; moreDead: boolean };

export function JobsPage() {
  const [queues, setQueues] = useState<QueueInfo[] | null>(null);
  const [stats, setStats] = useState<Stats | null>(null);
  const [selected, setSelected] = useState<string | null>(() => new URLSearchParams(location.search).get('queue'));
  const [lists, setLists] = useState<Lists | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState('');
  const [reload, setReload] = useState(0);

  useEffect(() => {
    api.jobs.queues
      .query()
      .then((all) => setQueues(all.filter((queue) => !queue.name.endsWith('.dead'))))
      .catch((failure: unknown) => setError(messageOf(failure)));
    // Exact counts, live: the lists below are read again when their queue's counts move.
    const subscription = api.admin.onStats.subscribe(undefined, {
      onData: ({ data }) => setStats(data),
      onError: (failure) => setError(messageOf(failure)),
    });
    return () => subscription.unsubscribe();
  }, []);

  const queue = queues?.find((entry) => entry.name === selected) ?? null;
  const counts = (name: string | null | undefined) => (name ? stats?.queues[name] : undefined);
  const current = counts(queue?.name);
  const currentDead = counts(queue?.deadLetter);
  // What, when it changes, means the lists may have changed.
  const countsKey = JSON.stringify([current?.failed, current?.queued, currentDead?.queued]);

  useEffect(() => {
    if (!queue) return setLists(null);
    let live = true;
    Promise.all([
      api.jobs.list.query({ queue: queue.name, state: 'failed', limit: LIMIT }),
      queue.deadLetter ? api.jobs.list.query({ queue: queue.deadLetter, state: 'created', limit: LIMIT }) : Promise.resolve({ items: [], next: null }),
    ])
      .then(([failed, dead]) => live && setLists({ failed: failed.items, dead: dead.items, moreFailed: failed.next !== null, moreDead: dead.next !== null }))
      .catch((failure: unknown) => live && setError(messageOf(failure)));
    return () => {
      live = false;
    };
  }, [queue?.name, queue?.deadLetter, countsKey, reload]);

  const act = async (what: () => Promise<string>) => {
    try {
      setNotice(await what());
      setError(null);
    } catch (failure) {
      setError(messageOf(failure));
    }
    setReload((n) => n + 1);
  };

  const retry = (job: Job) =>
    act(async () => {
      const { retried } = await api.jobs.retry.mutate({ queue: job.queue, id: job.id });
      return retried > 0 ? `Job ${job.id} is queued again.` : `Job ${job.id} was not retried.`;
    });
  const remove = (job: Job) =>
    act(async () => {
      await api.jobs.delete.mutate({ queue: job.queue, id: job.id });
      return `Job ${job.id} deleted.`;
    });
  const retryAll = (name: string) =>
    act(async () => {
      const { retried } = await api.jobs.retryDead.mutate({ queue: name });
      return `${retried} dead-letter ${retried === 1 ? 'job' : 'jobs'} of ${name} queued again.`;
    });

  const choose = (name: string) => {
    setSelected(name);
    history.replaceState(null, '', `${location.pathname}?queue=${encodeURIComponent(name)}`);
  };

  return (
    <>
      <h1>Jobs</h1>
      <p>Failed jobs and dead-letter jobs of each queue. Retrying a dead-letter job sends it back to its queue as a new job.</p>
      <Status>{notice}</Status>
      <Alert message={error} />
      {queues ? (
        <TableRegion label="Queues">
          <table>
            <thead>
              <tr>
                <th scope="col">Queue</th>
                <th scope="col" class="number">Queued</th>
                <th scope="col" class="number">Active</th>
                <th scope="col" class="number">Failed</th>
                <th scope="col" class="number">Dead-letter waiting</th>
                <th scope="col">Jobs</th>
              </tr>
            </thead>
            <tbody>
              {queues.map((entry) => (
                <tr key={entry.name} aria-current={entry.name === selected ? 'true' : undefined}>
                  <th scope="row">{entry.name}</th>
                  <td class="number">{counts(entry.name)?.queued ?? '…'}</td>
                  <td class="number">{counts(entry.name)?.active ?? '…'}</td>
                  <td class="number">{counts(entry.name)?.failed ?? '…'}</td>
                  <td class="number">{entry.deadLetter ? (counts(entry.deadLetter)?.queued ?? '…') : '—'}</td>
                  <td>
                    <button type="button" class="secondary" onClick={() => choose(entry.name)} aria-pressed={entry.name === selected}>
                      Show <span class="visually-hidden">{entry.name}</span> jobs
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableRegion>
      ) : (
        <p>Loading…</p>
      )}
      {queue && lists ? (
        <>
          <section aria-labelledby="failed-heading">
            <h2 id="failed-heading">
              Failed in <code>{queue.name}</code>
            </h2>
            <JobTable label={`Failed jobs of ${queue.name}`} jobs={lists.failed} more={lists.moreFailed} onRetry={retry} onDelete={remove} />
          </section>
          {queue.deadLetter ? (
            <section aria-labelledby="dead-heading">
              <h2 id="dead-heading">
                Dead-letter queue <code>{queue.deadLetter}</code>
              </h2>
              <p>
                <button type="button" disabled={lists.dead.length === 0} onClick={() => void retryAll(queue.deadLetter ?? queue.name)}>
                  Retry all dead-letter jobs of {queue.name}
                </button>
              </p>
              <JobTable label={`Dead-letter jobs of ${queue.name}`} jobs={lists.dead} more={lists.moreDead} onRetry={retry} onDelete={remove} />
            </section>
          ) : null}
        </>
      ) : queues ? (
        <p>Choose a queue to see its failed and dead-letter jobs.</p>
      ) : null}
    </>
  );
}

type TableProps = { label: string; jobs: Job[]; more: boolean; onRetry: (job: Job) => Promise<void>; onDelete: (job: Job) => Promise<void> };

function JobTable({ label, jobs, more, onRetry, onDelete }: TableProps) {
  if (jobs.length === 0) return <p>None.</p>;
  return (
    <>
      <TableRegion label={label}>
        <table>
          <thead>
            <tr>
              <th scope="col">Job</th>
              <th scope="col">Created</th>
              <th scope="col" class="number">Retries</th>
              <th scope="col">Last error</th>
              <th scope="col">Payload</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {jobs.map((job) => (
              <tr key={job.id} data-job-id={job.id} data-source-id={job.source?.id ?? undefined}>
                <th scope="row">
                  <code>{job.id.slice(0, 8)}</code>
                </th>
                <td>{formatDate(job.createdOn)}</td>
                <td class="number">
                  {job.source?.retryCount ?? job.retryCount} / {job.retryLimit}
                </td>
                <td class="error-text">{job.lastError ?? '—'}</td>
                <td>
                  <details>
                    <summary>Payload</summary>
                    <Json value={job.data} label={`Payload of job ${job.id}`} />
                  </details>
                </td>
                <td class="actions">
                  <button type="button" onClick={() => void onRetry(job)} aria-label={`Retry job ${job.id}`}>
                    Retry
                  </button>
                  <button type="button" class="danger" onClick={() => void onDelete(job)} aria-label={`Delete job ${job.id}`}>
                    Delete
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableRegion>
      {more ? <p>Only the oldest {LIMIT} are shown.</p> : null}
    </>
  );
}
