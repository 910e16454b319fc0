// Idempotency keys: a mutation repeated with the same key (a client retrying after a lost response) is answered with the first response instead of running again.
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { and, eq, isNull, lte } from 'drizzle-orm';
import superjson from 'superjson';
import { findUniqueViolation } from '../../db/index.ts';
import type { Deps } from '../deps.ts';
import { AppError } from '../errors.ts';

/** How long a key is remembered after its first use: a repeat after that runs as a new request. */
export const IDEMPOTENCY_KEY_TTL_MS = 24 * 60 * 60 * 1000;

/** How long a repeat waits for the first request with its key to finish before it is told to try again. */
export const IN_PROGRESS_WAIT_MS = 10_000;

/**
 * How long a claim without a response holds its key. A request that claimed a key and then lost its process (a
 * crash, a SIGKILL, a deploy that cut it) never stores a response nor gives the key up: past this, a repeat takes
 * the claim over and runs. Far longer than an idempotent procedure runs (a few statements, each bounded by
 * DATABASE_STATEMENT_TIMEOUT_MS, 30 s by default), so a request still running is never run twice.
 */
export const IN_PROGRESS_LEASE_MS = 5 * 60 * 1000;

/** 1–255 visible ASCII characters (a UUID, say), as the `Idempotency-Key` header carries it. */
const KEY = /^[\x21-\x7e]{1,255}$/;

export type IdempotentCall = {
  userId: string;
  /** The procedure's path: a key is scoped to one user and one procedure. */
  procedure: string;
  /** The caller's key; null when the request has none (the call then simply runs). */
  key: string | null;
  /** The validated input: a repeat must send the same. */
  input: unknown;
};

/** JSON with object keys sorted, so the same input hashes the same whatever order its fields came in. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) =>
    item && typeof item === 'object' && !Array.isArray(item) && !(item instanceof Date)
      ? Object.fromEntries(Object.entries(item).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : item,
  );
}

/** The hash a key stores of its request's input. */
export const hashOf = (input: unknown) => createHash('sha256').update(canonical(input) ?? 'undefined').digest('base64url');

/**
 * Runs `run` once per (user, procedure, key): the first request claims the key and stores its response; a repeat
 * with the same input gets that response (the stored copy, without running again), one with a different input
 * CONFLICT, and one that comes while the first is still running waits for it (up to IN_PROGRESS_WAIT_MS, then
 * CONFLICT). A request that fails gives its key up, so a retry runs again; so does one whose process died, once its
 * claim is older than IN_PROGRESS_LEASE_MS.
 */
export async function idempotently<T>(deps: Deps, call: IdempotentCall, run: () => Promise<T>): Promise<T> {
  if (call.key === null) return run();
  if (!KEY.test(call.key)) {
    throw new AppError('BAD_REQUEST', 'Idempotency-Key must be 1 to 255 visible ASCII characters', { fieldErrors: { 'Idempotency-Key': ['must be 1 to 255 visible ASCII characters'] } });
  }
  const { orm, tables } = deps.db;
  const { idempotencyKeys } = tables;
  const requestHash = hashOf(call.input);
  const same = and(eq(idempotencyKeys.userId, call.userId), eq(idempotencyKeys.procedure, call.procedure), eq(idempotencyKeys.key, call.key));
  const waitUntil = Date.now() + IN_PROGRESS_WAIT_MS;

  for (let pause = 25; ; pause = Math.min(pause * 2, 500)) {
    const now = deps.clock.now();
    try {
      const [claimed] = await orm
        .insert(idempotencyKeys)
        .values({ userId: call.userId, procedure: call.procedure, key: call.key, requestHash, createdAt: now, expiresAt: new Date(now.getTime() + IDEMPOTENCY_KEY_TTL_MS) })
        .returning({ id: idempotencyKeys.id });
      return await runClaimed(deps, claimed.id, run);
    } catch (error) {
      if (!findUniqueViolation(error)) throw error;
    }
    const [existing] = await orm
      .select({ id: idempotencyKeys.id, requestHash: idempotencyKeys.requestHash, response: idempotencyKeys.response, createdAt: idempotencyKeys.createdAt, expiresAt: idempotencyKeys.expiresAt })
      .from(idempotencyKeys)
      .where(same);
    // Gone since (a failed first request gave it up): claim it again.
    if (!existing) continue;
    if (existing.expiresAt <= now) {
      await orm.delete(idempotencyKeys).where(and(eq(idempotencyKeys.id, existing.id), lte(idempotencyKeys.expiresAt, now)));
      continue;
    }
    if (existing.requestHash !== requestHash) {
      throw new AppError('CONFLICT', 'this Idempotency-Key was used with a different request', { fieldErrors: { 'Idempotency-Key': ['was used with a different request'] } });
    }
    if (existing.response !== null) return superjson.parse<T>(existing.response);
    // Claimed by a request that cannot still be running: its process died before it answered. Take the key over
    // (the delete names the stale claim, so of several repeats one wins and the others wait for it).
    const staleBefore = new Date(now.getTime() - IN_PROGRESS_LEASE_MS);
    if (existing.createdAt <= staleBefore) {
      await orm.delete(idempotencyKeys).where(and(eq(idempotencyKeys.id, existing.id), isNull(idempotencyKeys.response), lte(idempotencyKeys.createdAt, staleBefore)));
      continue;
    }
    if (Date.now() >= waitUntil) {
      throw new AppError('CONFLICT', 'a request with this Idempotency-Key is still in progress; try again later');
    }
    await sleep(pause);
  }
}

async function runClaimed<T>(deps: Deps, id: string, run: () => Promise<T>): Promise<T> {
  const { orm, tables } = deps.db;
  let result: T;
  try {
    result = await run();
  } catch (error) {
    await orm.delete(tables.idempotencyKeys).where(eq(tables.idempotencyKeys.id, id));
    throw error;
  }
  await orm.update(tables.idempotencyKeys).set({ response: superjson.stringify(result) }).where(eq(tables.idempotencyKeys.id, id));
  return result;
}

/** Forgets keys past their expiry (the maintenance sweep calls it); returns how many. */
export async function deleteExpiredIdempotencyKeys(deps: Deps): Promise<number> {
  const { idempotencyKeys } = deps.db.tables;
  const deleted = await deps.db.orm.delete(idempotencyKeys).where(lte(idempotencyKeys.expiresAt, deps.clock.now())).returning({ id: idempotencyKeys.id });
  return deleted.length;
}
