// The console's routes are paths under /admin: history.pushState between them, the server answers each with the page.
import { useEffect, useState } from 'preact/hooks';

export const BASE = '/admin';
export type Route = 'overview' | 'users' | 'tasks' | 'jobs';
export const ROUTES: { route: Route; path: string; label: string }[] = [
  { route: 'overview', path: BASE, label: 'Overview' },
  { route: 'users', path: `${BASE}/users`, label: 'Users' },
  { route: 'tasks', path: `${BASE}/tasks`, label: 'Tasks' },
  { route: 'jobs', path: `${BASE}/jobs`, label: 'Jobs' },
];

const listeners = new Set<() => void>();

export function routeOf(pathname: string): Route {
  const path = pathname.replace(/\/+$/, '') || BASE;
  return ROUTES.find((entry) => entry.path === path)?.route ?? 'overview';
}

export function navigate(href: string): void {
  if (href === location.pathname + location.search) return;
  history.pushState(null, '', href);
  for (const listener of listeners) listener();
}

addEventListener('popstate', () => {
  for (const listener of listeners) listener();
});

/** The current route, re-rendered on navigation. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => routeOf(location.pathname));
  useEffect(() => {
    const update = () => setRoute(routeOf(location.pathname));
    listeners.add(update);
    return () => void listeners.delete(update);
  }, []);
  return route;
}
