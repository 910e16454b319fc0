// Compression of a body the handler holds whole (the tRPC handler's answers), negotiated as the compression
// middleware negotiates for every other response: brotli at quality 4, then gzip, then deflate; only bodies of
// COMPRESSION_THRESHOLD bytes or more; never under Cache-Control: no-transform. The middleware wraps each
// response's write, end and writeHead and builds a zlib stream for the ones it compresses (about a tenth of a
// small tRPC answer's CPU); a whole body needs none of that, only one call on libuv's pool when it is big enough.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { brotliCompress, constants, deflate, gzip, type CompressCallback, type InputType } from 'node:zlib';

export const COMPRESSION_THRESHOLD = 1024;
type Coding = 'br' | 'gzip' | 'deflate';
/** Our preference among codings the client rates equally. */
const CODINGS: readonly Coding[] = ['br', 'gzip', 'deflate'];

/** Brotli at quality 4, compression's own default: a balance of speed and ratio for answers made per request. */
const BROTLI = { params: { [constants.BROTLI_PARAM_QUALITY]: 4 } };

const COMPRESS: Record<Coding, (body: InputType, done: CompressCallback) => void> = {
  br: (body, done) => brotliCompress(body, BROTLI, done),
  gzip: (body, done) => gzip(body, done),
  deflate: (body, done) => deflate(body, done),
};

/**
 * The coding to answer with, from an Accept-Encoding header (RFC 9110 §12.5.3): the highest `q` wins, our order
 * breaks ties, `*` stands for every coding not named, `q=0` refuses one. Undefined means identity: no header,
 * nothing acceptable, or identity rated above the best coding.
 */
export function negotiateEncoding(header: string | undefined): Coding | undefined {
  if (!header) return undefined;
  const rated = new Map<string, number>();
  for (const item of header.split(',')) {
    const [name, ...params] = item.split(';');
    const coding = name.trim().toLowerCase();
    if (!coding || rated.has(coding)) continue;
    let q = 1;
    for (const param of params) {
      const [key, value = ''] = param.split('=', 2);
      if (key.trim().toLowerCase() !== 'q') continue;
      const parsed = Number(value.trim());
      q = Number.isFinite(parsed) && parsed >= 0 && parsed <= 1 ? parsed : 0;
    }
    rated.set(coding, q);
  }
  const anyOther = rated.get('*');
  let best: Coding | undefined;
  let bestQ = 0;
  for (const coding of CODINGS) {
    const q = rated.get(coding) ?? anyOther ?? 0;
    if (q > bestQ) [best, bestQ] = [coding, q];
  }
  const identity = rated.get('identity') ?? anyOther;
  return best && !(identity !== undefined && identity > bestQ) ? best : undefined;
}

function forbidsTransform(res: ServerResponse): boolean {
  const cacheControl = res.getHeader('cache-control');
  return typeof cacheControl === 'string' && /(?:^|,)\s*no-transform\s*(?:,|$)/i.test(cacheControl);
}

/**
 * Ends `res` with `body` (its Content-Type already set) and its Content-Length, compressed when it is big
 * enough and the client accepts a coding. The answer varies with Accept-Encoding either way, as the middleware says.
 */
export function endCompressible(req: IncomingMessage, res: ServerResponse, body: string): void {
  const vary = res.getHeader('vary');
  res.setHeader('vary', vary ? `${String(vary)}, accept-encoding` : 'accept-encoding');
  const length = Buffer.byteLength(body);
  const coding = length >= COMPRESSION_THRESHOLD && !forbidsTransform(res) ? negotiateEncoding(req.headers['accept-encoding']) : undefined;
  if (!coding) {
    res.setHeader('content-length', length);
    res.end(body);
    return;
  }
  COMPRESS[coding](body, (error, compressed) => {
    // zlib does not fail on a string it is given whole; should it, the body goes out as it is.
    if (error) {
      res.setHeader('content-length', length);
      res.end(body);
      return;
    }
    res.setHeader('content-encoding', coding);
    res.setHeader('content-length', compressed.length);
    res.end(compressed);
  });
}
