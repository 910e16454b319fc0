// The session settings every Postgres connection starts with, merged with what DATABASE_URL's own options say.
import { describe, expect, it } from 'vitest';
import { sessionOptions } from './postgres-settings.ts';

describe('sessionOptions', () => {
  it('sets DateStyle, TimeZone, client_encoding and IntervalStyle', () => {
    expect(sessionOptions('postgres://db/app')).toBe('-c DateStyle=ISO,MDY -c TimeZone=UTC -c client_encoding=UTF8 -c IntervalStyle=postgres');
  });

  it("keeps the URL's own options first, so ours win where both set one", () => {
    const url = `postgres://db/app?options=${encodeURIComponent('-c search_path=app -c TimeZone=Europe/Paris')}`;
    expect(sessionOptions(url)).toBe('-c search_path=app -c TimeZone=Europe/Paris -c DateStyle=ISO,MDY -c TimeZone=UTC -c client_encoding=UTF8 -c IntervalStyle=postgres');
  });
});
