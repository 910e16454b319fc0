// Accept-Encoding negotiation for the answers the tRPC and REST handlers compress themselves: the same choice the
// compression middleware makes for everything else (negotiator with brotli, then gzip, preferred).
import { describe, expect, it } from 'vitest';
import { negotiateEncoding } from './compress.ts';

describe('negotiateEncoding', () => {
  it.each([
    [undefined, undefined],
    ['', undefined],
    ['identity', undefined],
    ['gzip', 'gzip'],
    ['deflate', 'deflate'],
    ['GZip', 'gzip'],
    // Equal ratings: ours decides, whatever order the client listed them in.
    ['gzip, deflate, br', 'br'],
    ['gzip, deflate, br, zstd', 'br'],
    ['deflate, gzip', 'gzip'],
    // The client's ratings come first.
    ['br;q=0.5, gzip', 'gzip'],
    ['br;q=0.5, gzip;q=0.8, deflate;q=0.9', 'deflate'],
    [' gzip ; q=0.2 , br ; q=0.1 ', 'gzip'],
    // q=0 refuses a coding; * stands for every one not named.
    ['br;q=0, gzip', 'gzip'],
    ['*', 'br'],
    ['*, br;q=0', 'gzip'],
    ['*;q=0', undefined],
    ['gzip;q=0, deflate;q=0, br;q=0', undefined],
    // identity rated above every coding wins; unnamed, it is the last resort.
    ['identity;q=1, gzip;q=0.5', undefined],
    ['identity;q=0.1, gzip;q=0.5', 'gzip'],
    // Only codings we make count, and malformed ratings refuse.
    ['zstd, compress', undefined],
    ['gzip;q=2', undefined],
    ['gzip;q=abc, deflate', 'deflate'],
    // A coding named twice keeps its first rating.
    ['gzip;q=0.1, br;q=0.5, gzip', 'br'],
  ])('%j → %s', (header, expected) => {
    expect(negotiateEncoding(header)).toBe(expected);
  });
});
