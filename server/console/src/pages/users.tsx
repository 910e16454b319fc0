// Users: search and page through accounts; create one; edit name, e-mail, role and active state, with the API's field errors on their fields.
import { useEffect, useState } from 'preact/hooks';
import { api, fieldErrorsOf, messageOf, ROLE_LABELS, ROLES, type FieldErrors, type Me, type Role, type User } from '../api.ts';
import { Alert, Field, FilterSelect, formatDate, Pager, Status, TableRegion, textOf, useCursorPages } from '../ui.tsx';

const PAGE_SIZE = 20;
type Filter = { q?: string; role?: NonNullable<Role>; isActive?: boolean };
type Editing = { kind: 'create' } | { kind: 'edit'; user: User } | null;

export function UsersPage({ me }: { me: Me }) {
  const [filter, setFilter] = useState<Filter>({});
  const pages = useCursorPages();
  const [page, setPage] = useState<{ items: User[]; total: number; totalIsLowerBound: boolean; nextCursor: string | null } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState('');
  const [editing, setEditing] = useState<Editing>(null);
  const [reload, setReload] = useState(0);
  const cursor = pages.cursor;

  useEffect(() => {
    let current = true;
    api.users.list
      .query({ ...filter, limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) })
      .then((result) => {
        if (!current) return;
        setPage(result);
        setError(null);
      })
      .catch((failure: unknown) => current && setError(messageOf(failure)));
    return () => {
      current = false;
    };
  }, [filter, cursor, reload]);

  const search = (event: SubmitEvent) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const q = textOf(form, 'q').trim();
    const role = textOf(form, 'role');
    const active = textOf(form, 'active');
    setFilter({ ...(q ? { q } : {}), ...(role ? { role: role as NonNullable<Role> } : {}), ...(active ? { isActive: active === 'yes' } : {}) });
    pages.reset();
  };

  const saved = (user: User, created: boolean) => {
    setEditing(null);
    setNotice(`${created ? 'Created' : 'Saved'} ${user.username}.`);
    setReload((n) => n + 1);
  };

  const setActive = async (user: User) => {
    try {
      const updated = await api.users.setActive.mutate({ id: user.id, isActive: !user.isActive });
      setNotice(`${updated.username} is now ${updated.isActive ? 'active' : 'deactivated'}.`);
      setError(null);
      setReload((n) => n + 1);
    } catch (failure) {
      setError(messageOf(failure));
    }
  };

  return (
    <>
      <h1>Users</h1>
      <form class="filters" role="search" aria-label="Users" onSubmit={search}>
        <Field id="users-q" label="Search (username, e-mail or name)">
          {(props) => <input {...props} name="q" type="search" maxLength={100} />}
        </Field>
        <FilterSelect id="users-role" label="Role" name="role" options={ROLES.map((role) => [role, ROLE_LABELS[role]] as const)} />
        <FilterSelect id="users-active" label="State" name="active" options={[['yes', 'Active'], ['no', 'Deactivated']]} />
        <button type="submit">Search</button>
      </form>
      <p>
        <button type="button" onClick={() => setEditing({ kind: 'create' })} aria-expanded={editing?.kind === 'create'}>
          New user
        </button>
      </p>
      {editing ? <UserForm key={editing.kind === 'edit' ? editing.user.id : 'new'} editing={editing} me={me} onDone={saved} onCancel={() => setEditing(null)} /> : null}
      <Status>{notice}</Status>
      <Alert message={error} />
      {page ? (
        <>
          <p>
            {page.total}
            {page.totalIsLowerBound ? ' or more' : ''} {page.total === 1 ? 'user' : 'users'}
          </p>
          <TableRegion label="Users">
            <table>
              <thead>
                <tr>
                  <th scope="col">Username</th>
                  <th scope="col">E-mail</th>
                  <th scope="col">Name</th>
                  <th scope="col">Role</th>
                  <th scope="col">State</th>
                  <th scope="col">Created</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {page.items.map((user) => (
                  <tr key={user.id} data-user-id={user.id}>
                    <th scope="row">{user.username}</th>
                    <td>{user.email}</td>
                    <td>{user.fullName ?? '—'}</td>
                    <td>{ROLE_LABELS[user.role]}</td>
                    <td>{user.isActive ? 'Active' : 'Deactivated'}</td>
                    <td>{formatDate(user.createdAt)}</td>
                    <td class="actions">
                      <button type="button" class="secondary" onClick={() => setEditing({ kind: 'edit', user })} aria-label={`Edit ${user.username}`}>
                        Edit
                      </button>
                      {user.id === me.id ? null : (
                        <button type="button" class="secondary" onClick={() => void setActive(user)} aria-label={`${user.isActive ? 'Deactivate' : 'Activate'} ${user.username}`}>
                          {user.isActive ? 'Deactivate' : 'Activate'}
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableRegion>
          <Pager label="Pages of users" pages={pages} nextCursor={page.nextCursor} />
        </>
      ) : (
        <p>Loading…</p>
      )}
    </>
  );
}

type FormProps = { editing: NonNullable<Editing>; me: Me; onDone: (user: User, created: boolean) => void; onCancel: () => void };

/** Creating or editing one user: the API checks everything, and its messages land on their fields. */
function UserForm({ editing, me, onDone, onCancel }: FormProps) {
  const [errors, setErrors] = useState<FieldErrors>({});
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const user = editing.kind === 'edit' ? editing.user : null;
  const prefix = user ? `edit-${user.id}` : 'create';
  const title = user ? `Edit ${user.username}` : 'New user';

  const submit = async (event: SubmitEvent) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const text = (name: string) => textOf(form, name).trim();
    setBusy(true);
    try {
      let result: User;
      if (user) {
        const fullName = text('fullName');
        const email = text('email');
        const role = text('role') as NonNullable<Role>;
        const isActive = user.id === me.id ? user.isActive : form.get('isActive') === 'on';
        // Only what changed: an unchanged e-mail must not count as a new one.
        result = await api.users.update.mutate({
          id: user.id,
          ...(fullName !== (user.fullName ?? '') ? { fullName: fullName || null } : {}),
          ...(email !== user.email ? { email } : {}),
          ...(role !== user.role ? { role } : {}),
          ...(isActive !== user.isActive ? { isActive } : {}),
        });
      } else {
        const password = textOf(form, 'password');
        const fullName = text('fullName');
        result = await api.users.create.mutate({
          username: text('username'),
          email: text('email'),
          role: text('role') as NonNullable<Role>,
          ...(fullName ? { fullName } : {}),
          ...(password ? { password } : {}),
        });
      }
      onDone(result, !user);
    } catch (failure) {
      const fields = fieldErrorsOf(failure);
      setErrors(fields);
      setError(Object.keys(fields).length > 0 ? 'Check the fields marked below.' : messageOf(failure));
      setBusy(false);
      // Focus the first field in error, where its message is read.
      const first = Object.keys(fields)[0];
      if (first) requestAnimationFrame(() => document.getElementById(`${prefix}-${first}`)?.focus());
    }
  };

  return (
    <section class="panel" aria-labelledby={`${prefix}-title`}>
      <h2 id={`${prefix}-title`}>{title}</h2>
      <form class="stack" onSubmit={(event) => void submit(event)} noValidate>
        <Alert message={error} />
        {user ? null : (
          <Field id={`${prefix}-username`} label="Username" errors={errors.username} hint="3–32 letters, digits or _.">
            {(props) => <input {...props} name="username" autocomplete="off" required />}
          </Field>
        )}
        <Field id={`${prefix}-email`} label="E-mail" errors={errors.email}>
          {(props) => <input {...props} name="email" type="email" autocomplete="off" required value={user?.email ?? undefined} />}
        </Field>
        <Field id={`${prefix}-fullName`} label="Full name (optional)" errors={errors.fullName}>
          {(props) => <input {...props} name="fullName" autocomplete="off" value={user?.fullName ?? undefined} />}
        </Field>
        <Field id={`${prefix}-role`} label="Role" errors={errors.role}>
          {(props) => (
            <select {...props} name="role" value={user?.role ?? 'user'}>
              {ROLES.map((role) => (
                <option key={role} value={role}>
                  {ROLE_LABELS[role]}
                </option>
              ))}
            </select>
          )}
        </Field>
        {user ? (
          user.id === me.id ? null : (
            <div class="field check">
              <input id={`${prefix}-isActive`} name="isActive" type="checkbox" checked={user.isActive} />
              <label for={`${prefix}-isActive`}>Active (can sign in)</label>
            </div>
          )
        ) : (
          <Field id={`${prefix}-password`} label="Password (optional)" errors={errors.password} hint="Without one, the user gets an e-mail to set it.">
            {(props) => <input {...props} name="password" type="password" autocomplete="new-password" />}
          </Field>
        )}
        <div class="buttons">
          <button type="submit" disabled={busy}>
            {user ? 'Save' : 'Create user'}
          </button>
          <button type="button" class="secondary" onClick={onCancel}>
            Cancel
          </button>
        </div>
      </form>
    </section>
  );
}
