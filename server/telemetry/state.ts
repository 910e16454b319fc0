// What the app needs to know of tracing, without loading the SDK: whether it is on, and a tracer.
import { trace, type Tracer } from '@opentelemetry/api';

let enabled = false;
let flush: () => Promise<void> = async () => {};

export const tracingEnabled = (): boolean => enabled;

/** A no-op tracer while tracing is off. */
export const tracer = (): Tracer => trace.getTracer('ai-backend-service');

/** Called by ./tracing.ts once the SDK is running. */
export function markTracingStarted(flushAndShutdown: () => Promise<void>): void {
  enabled = true;
  flush = flushAndShutdown;
}

/** Exports what is still buffered: the last step of a graceful shutdown (nothing when tracing is off). */
export const flushTracing = (): Promise<void> => flush();

/** `trace_id` and `span_id` of the active span, for log lines. */
export function traceFields(): { trace_id: string; span_id: string } | undefined {
  if (!enabled) return undefined;
  const span = trace.getActiveSpan();
  if (!span) return undefined;
  const { traceId, spanId } = span.spanContext();
  return { trace_id: traceId, span_id: spanId };
}
