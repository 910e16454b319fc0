// OpenTelemetry tracing: HTTP, pg and pg-boss spans (and tRPC's, from server/trpc), exported over OTLP/HTTP.
// Started by ./register.ts before the app loads; without OTEL_EXPORTER_OTLP_ENDPOINT nothing here runs.
import { register } from 'node:module';
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider, type SpanExporter } from '@opentelemetry/sdk-trace';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import pkg from '../../package.json' with { type: 'json' };
import { markTracingStarted } from './state.ts';

let provider: TracerProvider | null = null;

/**
 * The OTLP/HTTP (JSON) exporter, configured the standard way from the environment: OTEL_EXPORTER_OTLP_ENDPOINT
 * (…/v1/traces is appended), or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, and OTEL_EXPORTER_OTLP_HEADERS for a
 * vendor's API key.
 */
export const otlpExporter = (): SpanExporter => new OTLPTraceExporter();

/** Installs the ESM hooks and instrumentations; must run before the instrumented modules are imported. */
export function startTracing(options: { serviceName: string; exporter: SpanExporter }): void {
  if (provider) return;
  // import-in-the-middle: lets the instrumentations patch modules loaded with `import`, not only `require`.
  register('@opentelemetry/instrumentation/hook.mjs', import.meta.url);
  provider = new TracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: options.serviceName, [ATTR_SERVICE_VERSION]: pkg.version }),
    spanProcessors: [new BatchSpanProcessor({ exporter: options.exporter })],
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      // Probes every few seconds would drown the traces that matter.
      new HttpInstrumentation({ ignoreIncomingRequestHook: (request) => request.url?.startsWith('/health/') ?? false }),
      new PgInstrumentation({ requireParentSpan: true }),
    ],
  });
  const started = provider;
  markTracingStarted(async () => {
    await started.forceFlush();
    await started.shutdown();
  });
}
