// Tasks: filter by status, type and user; the rows follow tasks.onChange live; a task's detail shows its input and result.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, messageOf, STATUS_LABELS, TASK_STATUSES, TASK_TYPES, TYPE_LABELS, type Task, type TaskStatus, type TaskSummary, type TaskType } from '../api.ts';
import { Alert, Field, FilterSelect, formatDate, Json, Pager, Status, TableRegion, textOf, useCursorPages } from '../ui.tsx';

const PAGE_SIZE = 20;
type Filter = { status?: TaskStatus; type?: TaskType; userId?: string; username?: string };

const matches = (task: TaskSummary, filter: Filter): boolean =>
  (filter.status === undefined || task.status === filter.status) && (filter.type === undefined || task.type === filter.type) && (filter.userId === undefined || task.userId === filter.userId);

const summaryOf = ({ input: _input, result: _result, ...summary }: Task): TaskSummary => summary;

export function TasksPage() {
  const [filter, setFilter] = useState<Filter>({});
  const [userError, setUserError] = useState<string[] | undefined>(undefined);
  const pages = useCursorPages();
  const [rows, setRows] = useState<TaskSummary[] | null>(null);
  const [more, setMore] = useState<{ total: number; totalIsLowerBound: boolean; nextCursor: string | null }>({ total: 0, totalIsLowerBound: false, nextCursor: null });
  const [error, setError] = useState<string | null>(null);
  const [live, setLive] = useState(false);
  const [selected, setSelected] = useState<string | null>(null);
  const [detail, setDetail] = useState<Task | null>(null);
  const filterRef = useRef(filter);
  filterRef.current = filter;
  const onFirstPage = pages.number === 1;
  const firstPageRef = useRef(onFirstPage);
  firstPageRef.current = onFirstPage;
  const selectedRef = useRef(selected);
  selectedRef.current = selected;
  const cursor = pages.cursor;

  useEffect(() => {
    let current = true;
    const { username: _username, ...query } = filter;
    api.tasks.list
      .query({ ...query, limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) })
      .then((page) => {
        if (!current) return;
        setRows(page.items);
        setMore(page);
        setError(null);
      })
      .catch((failure: unknown) => current && setError(messageOf(failure)));
    return () => {
      current = false;
    };
  }, [filter, cursor]);

  // Everyone's tasks (or the filtered user's) as they change: a row changes in place; a new task that matches the
  // filter appears on the first page.
  useEffect(() => {
    const subscription = api.tasks.onChange.subscribe(filter.userId ? { userId: filter.userId } : {}, {
      onStarted: () => setLive(true),
      onData: ({ data }) => {
        const summary = summaryOf(data);
        setRows((list) => {
          if (!list) return list;
          const index = list.findIndex((row) => row.id === summary.id);
          if (index !== -1) return list.map((row, i) => (i === index ? summary : row));
          if (!firstPageRef.current || !matches(summary, filterRef.current)) return list;
          return [summary, ...list].slice(0, PAGE_SIZE);
        });
        if (selectedRef.current === data.id) setDetail(data);
      },
      onError: (failure) => {
        setLive(false);
        setError(messageOf(failure));
      },
      onConnectionStateChange: (state) => setLive(state.state === 'pending'),
    });
    return () => subscription.unsubscribe();
  }, [filter.userId]);

  useEffect(() => {
    if (!selected) return setDetail(null);
    let current = true;
    api.tasks.get
      .query({ id: selected })
      .then((task) => current && setDetail(task))
      .catch((failure: unknown) => current && setError(messageOf(failure)));
    return () => {
      current = false;
    };
  }, [selected]);

  const apply = async (event: SubmitEvent) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const status = textOf(form, 'status');
    const type = textOf(form, 'type');
    const username = textOf(form, 'user').trim();
    let userId: string | undefined;
    if (username) {
      try {
        const found = await api.users.list.query({ q: username, limit: 20 });
        userId = found.items.find((user) => user.username.toLowerCase() === username.toLowerCase() || user.email === username.toLowerCase())?.id;
      } catch (failure) {
        setError(messageOf(failure));
        return;
      }
      if (!userId) {
        setUserError(['no user has this username or e-mail']);
        document.getElementById('tasks-user')?.focus();
        return;
      }
    }
    setUserError(undefined);
    setFilter({ ...(status ? { status: status as TaskStatus } : {}), ...(type ? { type: type as TaskType } : {}), ...(userId ? { userId, username } : {}) });
    pages.reset();
  };

  return (
    <>
      <h1>Tasks</h1>
      <form class="filters" role="search" aria-label="Tasks" onSubmit={(event) => void apply(event)}>
        <FilterSelect id="tasks-status" label="Status" name="status" options={TASK_STATUSES.map((status) => [status, STATUS_LABELS[status]] as const)} />
        <FilterSelect id="tasks-type" label="Type" name="type" options={TASK_TYPES.map((type) => [type, TYPE_LABELS[type]] as const)} />
        <Field id="tasks-user" label="User (username or e-mail)" errors={userError}>
          {(props) => <input {...props} name="user" maxLength={254} />}
        </Field>
        <button type="submit">Filter</button>
      </form>
      <Status>{live ? 'Live: rows update as tasks change.' : 'Connecting to live updates…'}</Status>
      <Alert message={error} />
      {detail ? <TaskDetail task={detail} onClose={() => setSelected(null)} /> : null}
      {rows ? (
        <>
          <p>
            {more.total}
            {more.totalIsLowerBound ? ' or more' : ''} {more.total === 1 ? 'task' : 'tasks'}
            {filter.username ? ` of ${filter.username}` : ''}
          </p>
          <TableRegion label="Tasks">
            <table>
              <thead>
                <tr>
                  <th scope="col">Task</th>
                  <th scope="col">Type</th>
                  <th scope="col">Status</th>
                  <th scope="col">User</th>
                  <th scope="col" class="number">Attempts</th>
                  <th scope="col">Created</th>
                  <th scope="col">Finished</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((task) => (
                  <tr key={task.id} data-task-id={task.id}>
                    <th scope="row">
                      <button type="button" class="link id" onClick={() => setSelected(task.id)}>
                        <span class="visually-hidden">Details of task </span>
                        {task.id}
                      </button>
                    </th>
                    <td>{TYPE_LABELS[task.type]}</td>
                    <td class={`status-${task.status}`} data-status={task.status}>
                      {STATUS_LABELS[task.status]}
                    </td>
                    <td>
                      <code>{task.userId.slice(0, 10)}…</code>
                    </td>
                    <td class="number">{task.attempts}</td>
                    <td>{formatDate(task.createdAt)}</td>
                    <td>{formatDate(task.finishedAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableRegion>
          <Pager label="Pages of tasks" pages={pages} nextCursor={more.nextCursor} />
        </>
      ) : (
        <p>Loading…</p>
      )}
    </>
  );
}

function TaskDetail({ task, onClose }: { task: Task; onClose: () => void }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), [task.id]);
  return (
    <section class="panel" aria-labelledby="task-detail-title">
      <h2 id="task-detail-title" tabIndex={-1} ref={heading}>
        Task <code>{task.id}</code>
      </h2>
      <dl class="facts">
        <dt>Type</dt>
        <dd>{TYPE_LABELS[task.type]}</dd>
        <dt>Status</dt>
        <dd data-detail-status={task.status}>{STATUS_LABELS[task.status]}</dd>
        <dt>User</dt>
        <dd>
          <code>{task.userId}</code>
        </dd>
        <dt>Attempts</dt>
        <dd>{task.attempts}</dd>
        <dt>Created</dt>
        <dd>{formatDate(task.createdAt)}</dd>
        <dt>Started</dt>
        <dd>{formatDate(task.startedAt)}</dd>
        <dt>Finished</dt>
        <dd>{formatDate(task.finishedAt)}</dd>
        {task.error ? (
          <>
            <dt>Error</dt>
            <dd>{task.error}</dd>
          </>
        ) : null}
      </dl>
      <h3>Input</h3>
      <Json value={task.input} label="Input" />
      <h3>Result</h3>
      <Json value={task.result ?? undefined} label="Result" />
      <button type="button" class="secondary" onClick={onClose}>
        Close details
      </button>
    </section>
  );
}
