// Argon2id password hashing with explicit OWASP parameters, on libuv's thread pool (never the event loop), a few at a time.
import { hash, verify } from '@node-rs/argon2';

/** OWASP's minimum for Argon2id: 19 MiB, 2 passes, 1 lane. `algorithm: 2` is Argon2id (a const enum upstream). */
export const ARGON2_PARAMS = { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

/**
 * Hashes (and verifications) that run at once; the rest wait their turn, first come first served. Each takes 19 MiB
 * and a core for tens of milliseconds on libuv's thread pool (four threads unless UV_THREADPOOL_SIZE says more).
 * Unbounded, a flood of them (a batch of password checks, say) would take every pool thread, and DNS lookups, file
 * writes and compression, and every other user's login, would wait behind it; two leave the pool half free.
 */
export const MAX_CONCURRENT_HASHES = 2;

let active = 0;
let peak = 0;
const waiting: (() => void)[] = [];

async function limited<T>(work: () => Promise<T>): Promise<T> {
  if (active >= MAX_CONCURRENT_HASHES) await new Promise<void>((resolve) => waiting.push(resolve));
  else active++;
  peak = Math.max(peak, active);
  try {
    return await work();
  } finally {
    // The slot passes straight to the next in line, so `active` never drops below what is running.
    const next = waiting.shift();
    if (next) next();
    else active--;
  }
}

/** Hashing now: running, waiting, and the most ever running at once (for tests and diagnostics). */
export function hashingStats(): { active: number; waiting: number; peak: number } {
  return { active, waiting: waiting.length, peak };
}

export function hashPassword(password: string): Promise<string> {
  return limited(() => hash(password, ARGON2_PARAMS));
}

export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await limited(() => verify(passwordHash, password));
  } catch {
    return false;
  }
}

let dummyHash: Promise<string> | undefined;

/**
 * Spends the time of a real verification when there is no user to check against, so an unknown user and a
 * wrong password cannot be told apart by timing. Always false.
 */
export async function verifyNothing(password: string): Promise<false> {
  dummyHash ??= hashPassword('an arbitrary password that no account has');
  await verifyPassword(await dummyHash, password);
  return false;
}
