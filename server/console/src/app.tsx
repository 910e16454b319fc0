// The console's shell: who is signed in (sign-in form, "not an admin"), the navigation and the current page.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, isApiError, messageOf, onSessionEnded, type Me } from './api.ts';
import { JobsPage } from './pages/jobs.tsx';
import { OverviewPage } from './pages/overview.tsx';
import { TasksPage } from './pages/tasks.tsx';
import { UsersPage } from './pages/users.tsx';
import { ROUTES, useRoute } from './router.ts';
import { Alert, Field, Link, textOf } from './ui.tsx';

type Session = { kind: 'checking' } | { kind: 'signedOut'; notice: string | null } | { kind: 'signedIn'; me: Me };

/** Whether the request for this page carried a session cookie (the server says; the cookie itself is HttpOnly). */
const hadSessionCookie = (): boolean => document.querySelector('meta[name="console-session"]')?.getAttribute('content') === 'present';

export function App() {
  const [session, setSession] = useState<Session>(() => (hadSessionCookie() ? { kind: 'checking' } : { kind: 'signedOut', notice: null }));

  useEffect(() => {
    if (session.kind !== 'checking') return;
    api.auth.me
      .query()
      .then((me) => setSession({ kind: 'signedIn', me }))
      .catch((error: unknown) => setSession({ kind: 'signedOut', notice: isApiError(error, 'UNAUTHORIZED') ? null : messageOf(error) }));
  }, [session.kind]);

  useEffect(() => onSessionEnded(() => setSession({ kind: 'signedOut', notice: 'Your session has ended: sign in again.' })), []);

  const signOut = async () => {
    // The pages (and their live streams) go first, so nothing asks with a session that is being ended.
    setSession({ kind: 'signedOut', notice: null });
    await api.auth.logout.mutate().catch(() => undefined);
  };

  if (session.kind === 'checking') {
    return (
      <main id="main" class="narrow">
        <p role="status">Loading…</p>
      </main>
    );
  }
  if (session.kind === 'signedOut') return <SignIn notice={session.notice} onSignedIn={(me) => setSession({ kind: 'signedIn', me })} />;
  if (session.me.role !== 'admin') return <NotAdmin me={session.me} onSignOut={signOut} />;
  return <Console me={session.me} onSignOut={signOut} />;
}

function SignIn({ notice, onSignedIn }: { notice: string | null; onSignedIn: (me: Me) => void }) {
  const [error, setError] = useState<string | null>(notice);
  const [busy, setBusy] = useState(false);
  const submit = async (event: SubmitEvent) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    setBusy(true);
    setError(null);
    try {
      // The session goes into the HttpOnly cookie; the token in the answer is not kept.
      const { user } = await api.auth.login.mutate({ usernameOrEmail: textOf(form, 'usernameOrEmail'), password: textOf(form, 'password') });
      onSignedIn(user);
    } catch (failure) {
      setError(isApiError(failure, 'UNAUTHORIZED') ? 'Wrong username, e-mail or password.' : messageOf(failure));
      setBusy(false);
    }
  };
  return (
    <main id="main" class="narrow">
      <h1>Admin console</h1>
      <form class="stack" onSubmit={(event) => void submit(event)} aria-describedby="sign-in-error">
        <Field id="sign-in-user" label="Username or e-mail">
          {(props) => <input {...props} name="usernameOrEmail" autocomplete="username" required />}
        </Field>
        <Field id="sign-in-password" label="Password">
          {(props) => <input {...props} name="password" type="password" autocomplete="current-password" required />}
        </Field>
        <div id="sign-in-error">
          <Alert message={error} />
        </div>
        <button type="submit" disabled={busy}>
          Sign in
        </button>
      </form>
    </main>
  );
}

function NotAdmin({ me, onSignOut }: { me: Me; onSignOut: () => Promise<void> }) {
  return (
    <main id="main" class="narrow">
      <h1>Admin console</h1>
      <p role="alert">
        You are signed in as <strong>{me.username}</strong>, who is not an admin. The console is for admins only.
      </p>
      <button type="button" onClick={() => void onSignOut()}>
        Sign out
      </button>
    </main>
  );
}

function Console({ me, onSignOut }: { me: Me; onSignOut: () => Promise<void> }) {
  const route = useRoute();
  const main = useRef<HTMLElement>(null);
  const first = useRef(true);
  const label = ROUTES.find((entry) => entry.route === route)?.label ?? '';

  useEffect(() => {
    document.title = `${label} — admin console`;
    // After a navigation (not the first page), focus goes to the new page, as a page load would put it.
    if (first.current) first.current = false;
    else main.current?.focus();
  }, [route, label]);

  return (
    <>
      <a class="skip-link" href="#main">
        Skip to main content
      </a>
      <header class="top">
        <p class="brand">ai-backend-service · admin</p>
        <nav aria-label="Console">
          <ul>
            {ROUTES.map((entry) => (
              <li key={entry.route}>
                <Link href={entry.path} current={entry.route === route}>
                  {entry.label}
                </Link>
              </li>
            ))}
            <li>
              <a href="/admin/queues">pg-boss dashboard</a>
            </li>
          </ul>
        </nav>
        <p class="account">
          Signed in as <strong>{me.username}</strong>{' '}
          <button type="button" class="secondary" onClick={() => void onSignOut()}>
            Sign out
          </button>
        </p>
      </header>
      <main id="main" tabIndex={-1} ref={main}>
        {route === 'overview' ? <OverviewPage /> : route === 'users' ? <UsersPage me={me} /> : route === 'tasks' ? <TasksPage /> : <JobsPage />}
      </main>
    </>
  );
}
