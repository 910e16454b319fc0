// The console's one client: our own SDK from its sources, on this origin, signed in by the session cookie.
import { createClient, fieldErrorsOf, isApiError, type FieldErrors, type RouterInputs, type RouterOutputs } from '../../../client-sdk/src/index.ts';

export const api = createClient({ url: location.origin, credentials: 'same-origin' });

export type Stats = RouterOutputs['admin']['stats'];
export type User = RouterOutputs['users']['list']['items'][number];
export type TaskSummary = RouterOutputs['tasks']['list']['items'][number];
export type Task = RouterOutputs['tasks']['get'];
export type TaskStatus = TaskSummary['status'];
export type TaskType = TaskSummary['type'];
export type Job = RouterOutputs['jobs']['get'];
export type QueueInfo = RouterOutputs['jobs']['queues'][number];
export type Me = RouterOutputs['auth']['me'];
export type Role = RouterInputs['users']['create']['role'];
export type { FieldErrors };

/** Every status with its label: a status the API adds fails the type-check here until it has one. */
export const STATUS_LABELS: Record<TaskStatus, string> = { queued: 'Queued', running: 'Running', completed: 'Completed', failed: 'Failed', cancelled: 'Cancelled' };
export const TASK_STATUSES = Object.keys(STATUS_LABELS) as TaskStatus[];
export const TYPE_LABELS: Record<TaskType, string> = { 'text.analyze': 'Text analysis', 'math.sum': 'Sum of numbers' };
export const TASK_TYPES = Object.keys(TYPE_LABELS) as TaskType[];
export const ROLE_LABELS: Record<NonNullable<Role>, string> = { user: 'User', admin: 'Admin' };
export const ROLES = Object.keys(ROLE_LABELS) as NonNullable<Role>[];

const sessionEndedListeners = new Set<() => void>();

/** Called when a call finds the session gone (signed out elsewhere, expired, deactivated): the console signs out. */
export function onSessionEnded(listener: () => void): () => void {
  sessionEndedListeners.add(listener);
  return () => void sessionEndedListeners.delete(listener);
}

/** A message for people: the API's own (it never carries internals), else a generic one. */
export function messageOf(error: unknown): string {
  if (isApiError(error)) {
    if (error.data.code === 'UNAUTHORIZED') {
      for (const listener of sessionEndedListeners) listener();
      return 'Your session has ended: sign in again.';
    }
    if (error.data.code === 'FORBIDDEN') return `Not allowed: ${error.message}`;
    return error.message;
  }
  return 'The service could not be reached. Try again.';
}

export { fieldErrorsOf, isApiError };
