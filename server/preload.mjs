// `node --import ./server/preload.mjs <entry>.ts`: what every process of ours loads first. Plain JavaScript,
// so an old Node reads it: checks the Node version (one clear line instead of a crash), makes imports cheap
// (compile cache, package resolution), then starts tracing if it is configured.
// Only the version check is a static import: on an old Node the others would fail to link before it ran.
import './runtime/node-version.mjs';

await import('./runtime/fast-resolve.mjs');
await import('./telemetry/register.ts');
