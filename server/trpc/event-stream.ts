// The output schema of a subscription: a stream of `tracked()` events, each checked against its own schema.
import { getTRPCErrorFromUnknown, tracked, type TrackedEnvelope } from '@trpc/server';
import { z } from 'zod';
import { toClientError } from './errors.ts';

const eventSchemas = new WeakMap<z.ZodType, z.ZodType>();

/** The schema of one event of a stream made by `eventStream` (the OpenAPI document describes it); null for others. */
export const eventSchemaOf = (schema: z.ZodType): z.ZodType | null => eventSchemas.get(schema) ?? null;

const isAsyncIterable = (value: unknown): value is AsyncIterable<unknown> =>
  typeof value === 'object' && value !== null && Symbol.asyncIterator in value;

/**
 * A subscription's resolver returns a stream of `{ id, data }`; each leaves the server as `tracked(id, data)` once
 * `event` parsed its data (data that does not match is a server fault, as for any output). The client's types
 * come from `event`.
 */
export function eventStream<T extends z.ZodType>(event: T) {
  const schema = z
    .custom<AsyncIterable<StreamEvent>>(isAsyncIterable, 'a subscription must return a stream')
    .transform((source) => checked(source, event));
  eventSchemas.set(schema, event);
  return schema;
}

/**
 * Each event's data parsed once: a change fanned out to many subscribers of a process is one object (read once),
 * so its parse is shared too. Keyed by schema, then by the data object (which streams never change).
 */
const parses = new WeakMap<z.ZodType, WeakMap<object, unknown>>();

function parsed<T extends z.ZodType>(event: T, data: unknown): z.output<T> {
  if (typeof data !== 'object' || data === null) return event.parse(data);
  let cache = parses.get(event);
  if (!cache) parses.set(event, (cache = new WeakMap()));
  if (cache.has(data)) return cache.get(data) as z.output<T>;
  const value = event.parse(data);
  cache.set(data, value);
  return value;
}

/** What a subscription's resolver returns a stream of: each event's id (for resuming) and its data. */
export type StreamEvent = { id: string; data: unknown };

async function* checked<T extends z.ZodType>(source: AsyncIterable<StreamEvent>, event: T): AsyncGenerator<TrackedEnvelope<z.output<T>>> {
  try {
    for await (const item of source) yield tracked(item.id, parsed(event, item.data));
  } catch (error) {
    // Thrown while streaming, past the procedure's own error boundary: domain errors keep their codes here.
    throw toClientError(getTRPCErrorFromUnknown(error));
  }
}
