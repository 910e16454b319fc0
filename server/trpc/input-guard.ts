// What client input may hold, checked before any procedure sees it: superjson envelopes carry only the metadata
// our clients send, and text has no NUL characters and no lone UTF-16 surrogates.
import { TRPCError, type DataTransformer } from '@trpc/server';
import superjson from 'superjson';
import { AppError } from '../errors.ts';

/**
 * The superjson value types an input may use: `undefined` fields, NaN/±Infinity (which the schemas then
 * refuse) and dates. Maps, sets, regular expressions, errors, URLs, bigints, classes, symbols and custom types
 * are refused: no input schema of ours takes them.
 */
const ACCEPTED_TYPES: ReadonlySet<string> = new Set(['undefined', 'number', 'Date']);

const refused = (message: string) => new TRPCError({ code: 'BAD_REQUEST', message: `Invalid input: ${message}` });

/** The first annotation in superjson's `meta.values` tree whose type is not accepted, or a malformed tree. */
function unacceptedAnnotation(values: unknown): string | null {
  const pending: unknown[] = [values];
  for (let node = pending.pop(); node !== undefined; node = pending.pop()) {
    if (Array.isArray(node)) {
      // A leaf is [type] and an inner node [type, { key: subtree }]; a composite type is itself an array.
      const [type, children] = node as unknown[];
      if (typeof type !== 'string') return Array.isArray(type) ? String(type[0]) : 'a malformed annotation';
      if (!ACCEPTED_TYPES.has(type)) return type;
      if (children !== undefined) pending.push(children);
    } else if (typeof node === 'object' && node !== null) {
      pending.push(...Object.values(node as Record<string, unknown>));
    } else {
      return 'a malformed annotation';
    }
  }
  return null;
}

/**
 * Refuses, before anything is decoded, superjson metadata no client of ours sends. `referentialEqualities`
 * makes one part of the input the same object as another, so an input can contain itself (and a walk over it
 * never ends) or repeat one part exponentially: our SDK sends every value in full and never this.
 */
export function checkEnvelope(payload: unknown): void {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return;
  const meta = (payload as { meta?: unknown }).meta;
  if (meta === undefined || meta === null) return;
  if (typeof meta !== 'object' || Array.isArray(meta)) throw refused('malformed superjson metadata');
  const { referentialEqualities, values } = meta as { referentialEqualities?: unknown; values?: unknown };
  if (referentialEqualities !== undefined && referentialEqualities !== null) {
    throw refused('superjson reference metadata (meta.referentialEqualities) is not accepted; send every value in full');
  }
  if (values !== undefined && values !== null) {
    const type = unacceptedAnnotation(values);
    if (type !== null) throw refused(`superjson type "${type.slice(0, 40)}" is not accepted in input`);
  }
}

/** superjson for input, after checkEnvelope; the same superjson for output. */
export const inputTransformer: DataTransformer = {
  serialize: (value: unknown) => superjson.serialize(value),
  deserialize: (payload: unknown): unknown => {
    checkEnvelope(payload);
    return superjson.deserialize<unknown>(payload as Parameters<typeof superjson.deserialize>[0]);
  },
};

type Visit = { value: unknown; key: string; parent: Visit | null };

const isPlainObject = (value: unknown): value is Record<string, unknown> => {
  if (typeof value !== 'object' || value === null) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
};

const pathOf = (visit: Visit): string => {
  const keys: string[] = [];
  for (let at: Visit | null = visit; at?.parent; at = at.parent) keys.push(at.key);
  return keys.reverse().join('.');
};

/** What is wrong with a piece of text, or null: NUL (Postgres cannot store it), lone surrogates (not Unicode text). */
function textProblem(text: string): string | null {
  if (text.includes('\0')) return 'must not contain NUL characters';
  if (!text.isWellFormed()) return 'must be valid Unicode text (no lone UTF-16 surrogates)';
  return null;
}

/**
 * The first string or object key of an input with a text problem: its path and what is wrong; null when there is
 * none. Iterative, so input nested thousands deep costs time in proportion to its size, not the stack; and each
 * object is visited once, so an input that shares or contains itself (however it was built) cannot loop.
 */
export function badTextIn(input: unknown): { path: string; problem: string } | null {
  const seen = new Set<object>();
  const pending: Visit[] = [{ value: input, key: '', parent: null }];
  for (let visit = pending.pop(); visit; visit = pending.pop()) {
    const { value } = visit;
    if (typeof value === 'string') {
      const problem = textProblem(value);
      if (problem) return { path: pathOf(visit), problem };
      continue;
    }
    if (typeof value !== 'object' || value === null || seen.has(value)) continue;
    seen.add(value);
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) pending.push({ value: value[i], key: String(i), parent: visit });
    } else if (isPlainObject(value)) {
      const entries = Object.entries(value);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, item] = entries[i];
        const child = { value: item, key, parent: visit };
        const problem = textProblem(key);
        if (problem) return { path: pathOf(child), problem };
        pending.push(child);
      }
    }
  }
  return null;
}

/**
 * Text with NUL characters or lone surrogates is refused up front as a per-field 400, on every transport and both
 * dialects alike: Postgres cannot store either (SQLite would store them corrupt), and no field has a use for them.
 */
export function refuseBadText<T>(input: T): T {
  const bad = badTextIn(input);
  if (bad === null) return input;
  const { path, problem } = bad;
  throw new AppError('BAD_REQUEST', `Invalid input: ${path ? `${path}: ` : ''}${problem}`, { fieldErrors: { [path]: [problem] } });
}
