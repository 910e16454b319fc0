// `node --import ./server/telemetry/register.ts …`: starts tracing before the app loads, when
// OTEL_EXPORTER_OTLP_ENDPOINT is set (an invalid value is left for the config check to report by name).
// Nothing of the app is imported here: a module loaded before the hooks could not be instrumented.
import { existsSync, readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';

// The app also reads .env; the exporter reads only process.env, so OTEL_* settings from .env go there.
if (existsSync('.env')) {
  for (const [name, value] of Object.entries(parseEnv(readFileSync('.env', 'utf8')))) {
    if (name.startsWith('OTEL_') && process.env[name] === undefined) process.env[name] = value;
  }
}

const endpoint = process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
if (endpoint && /^https?:\/\//.test(endpoint) && URL.canParse(endpoint)) {
  // Loaded only when on: the SDK and instrumentations cost memory and start-up time.
  const { otlpExporter, startTracing } = await import('./tracing.ts');
  const role = process.argv[1]?.includes('worker') ? 'worker' : 'api';
  startTracing({ serviceName: process.env.OTEL_SERVICE_NAME ?? `ai-backend-service-${role}`, exporter: otlpExporter() });
}
