// A table that grew from one row to thousands since its statistics were taken (a new install's first stop
// analyzes its tables with one user and one session in them), on both dialects: a session lookup still reads its
// one row by key. With the statistics of a one-row table SQLite scans the whole table instead, on every request
// (76 ms per lookup at 1,000,000 sessions), until `PRAGMA optimize` runs again: now within a minute, not an hour.
// Postgres scales its statistics by the table's current size on its own.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { newId, type Database } from './index.ts';
import { OPTIMIZE_INTERVAL_MS } from './sqlite.ts';
import { dialects, openTestDatabase } from '../server/testing/database.ts';
import { planOf } from '../server/testing/plans.ts';
import { validateSessionToken } from '../server/services/sessions.ts';
import { hashToken } from '../server/services/tokens.ts';
import type { Deps } from '../server/deps.ts';

describe.each(dialects)('planner statistics on %s', (dialect) => {
  let db: Database | null = null;
  afterEach(async () => {
    vi.useRealTimers();
    await db?.close();
  });

  it('a session lookup reads its row by key after the table outgrew its statistics', async () => {
    // The optimizer's interval runs on fake time; everything else on real time.
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    db = await openTestDatabase(dialect);
    const { users, sessions } = db.tables;
    const userId = newId();
    const now = new Date();
    await db.orm.insert(users).values({ id: userId, username: `stats_${userId.slice(0, 8)}`, email: `${userId}@example.com`, passwordHash: 'x' });
    const session = (token: string) => ({ id: hashToken(token), publicId: newId(), userId, createdAt: now, lastUsedAt: now, expiresAt: new Date(now.getTime() + 3_600_000), absoluteExpiresAt: new Date(now.getTime() + 3_600_000) });
    await db.orm.insert(sessions).values(session('first'));
    await db.analyze();
    for (let batch = 0; batch < 10; batch++) await db.orm.insert(sessions).values(Array.from({ length: 1000 }, (_, i) => session(`token ${batch} ${i}`)));

    const deps = { db, clock: { now: () => new Date() } } as unknown as Deps;
    const lookup = async () => {
      const ran: { text: string; params: unknown[] }[] = [];
      const stop = db!.onQuery((text, params) => ran.push({ text, params }));
      const valid = await validateSessionToken(deps, 'token 9 999');
      stop();
      expect(valid?.user.id).toBe(userId);
      const [{ text, params }] = ran.filter((statement) => /from "sessions"/.test(statement.text));
      return planOf(db!, text, params);
    };
    // SQLite plans with the one-row statistics until the optimizer's next run (the lookups mark the table as used).
    await lookup();
    vi.advanceTimersByTime(OPTIMIZE_INTERVAL_MS);
    expect(await lookup()).toMatch(dialect === 'sqlite' ? /SEARCH sessions USING INDEX sqlite_autoindex_sessions_1 \(id=\?\)/ : /Index Scan using sessions_pkey/);
  });
});
