// `node --import ./server/testing/record-spans.ts server/main.ts`: tracing on, with an in-memory exporter
// whose spans are written to SPANS_FILE (JSON) when the process flushes telemetry on its way out.
import { writeFileSync } from 'node:fs';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { startTracing } from '../telemetry/tracing.ts';

export type RecordedSpan = {
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  links: { traceId: string; spanId: string }[];
  attributes: Record<string, unknown>;
  status: number;
};

const plain = (span: ReadableSpan): RecordedSpan => ({
  name: span.name,
  kind: span.kind,
  traceId: span.spanContext().traceId,
  spanId: span.spanContext().spanId,
  parentSpanId: span.parentSpanContext?.spanId ?? null,
  links: span.links.map((link) => ({ traceId: link.context.traceId, spanId: link.context.spanId })),
  attributes: { ...span.attributes },
  status: span.status.code,
});

class RecordingExporter extends InMemorySpanExporter {
  override shutdown(): Promise<void> {
    const file = process.env.SPANS_FILE;
    if (file) writeFileSync(file, JSON.stringify(this.getFinishedSpans().map(plain)));
    return super.shutdown();
  }
}

startTracing({ serviceName: 'ai-backend-service-test', exporter: new RecordingExporter() });
