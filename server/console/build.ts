// The admin console's bundle: built with esbuild into build/console when its inputs are newer than the last build, else read from there.
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join, relative, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';

/** Set when this module loads: the server loads it on the first /admin request only (server/http/console-route.test.ts). */
(globalThis as Record<symbol, unknown>)[Symbol.for('ai-backend-service.console.build')] = true;

const ROOT = join(import.meta.dirname, '..', '..');
export const CONSOLE_SOURCE = join(import.meta.dirname, 'src');
/** Gitignored; the container image ships it prebuilt (the Dockerfile's build stage runs this file). */
export const CONSOLE_BUILD_DIR = join(ROOT, 'build', 'console');
const MANIFEST = 'manifest.json';

/** What a build wrote: the hashed file names the page links, and every input file, to tell when it is stale. */
export type ConsoleManifest = { script: string; style: string; builtAt: number; inputs: string[]; gzippedScriptBytes: number };

/** A built console, in memory: the assets by file name with their content type. */
export type ConsoleBundle = { manifest: ConsoleManifest; assets: Map<string, { type: string; body: Buffer }> };

export type BuildOutcome = { bundle: ConsoleBundle; built: boolean };

async function readManifest(dir: string): Promise<ConsoleManifest | null> {
  try {
    return JSON.parse(await readFile(join(dir, MANIFEST), 'utf8')) as ConsoleManifest;
  } catch {
    return null;
  }
}

/** Stale when any input (ours, the SDK's sources, the libraries' files) changed after the build, or is gone. */
async function isStale(manifest: ConsoleManifest): Promise<boolean> {
  const times = await Promise.all(manifest.inputs.map((file) => stat(resolve(ROOT, file)).then((s) => s.mtimeMs, () => Infinity)));
  return times.some((time) => time > manifest.builtAt);
}

async function load(dir: string, manifest: ConsoleManifest): Promise<ConsoleBundle> {
  const assets = new Map<string, { type: string; body: Buffer }>();
  for (const [name, type] of [
    [manifest.script, 'text/javascript; charset=utf-8'],
    [manifest.style, 'text/css; charset=utf-8'],
  ] as const) {
    assets.set(name, { type, body: await readFile(join(dir, name)) });
  }
  return { manifest, assets };
}

/** Writes a file whole or not at all: test processes and servers may build at the same time. */
async function writeAtomically(path: string, body: string | Uint8Array): Promise<void> {
  const temporary = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(temporary, body);
  await rename(temporary, path);
}

/** Bundles src/main.tsx (Preact, uPlot, the SDK's sources) into one script and one stylesheet, minified, hashed names. */
export async function buildConsole(dir = CONSOLE_BUILD_DIR): Promise<ConsoleBundle> {
  // Only here: the server imports esbuild (a devDependency) when it has to build, never at start.
  const { build } = await import('esbuild');
  const startedAt = Date.now();
  const result = await build({
    entryPoints: [join(CONSOLE_SOURCE, 'main.tsx')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    jsx: 'automatic',
    jsxImportSource: 'preact',
    entryNames: '[name]-[hash]',
    outdir: dir,
    write: false,
    metafile: true,
    legalComments: 'none',
    logLevel: 'silent',
    absWorkingDir: ROOT,
  });
  await mkdir(dir, { recursive: true });
  let script = '';
  let style = '';
  let gzippedScriptBytes = 0;
  for (const file of result.outputFiles) {
    const name = basename(file.path);
    if (name.endsWith('.js')) {
      script = name;
      gzippedScriptBytes = gzipSync(file.contents).length;
    } else if (name.endsWith('.css')) {
      style = name;
    } else {
      continue;
    }
    await writeAtomically(join(dir, name), file.contents);
  }
  if (!script || !style) throw new Error('the console build wrote no script or no stylesheet');
  const inputs = Object.keys(result.metafile.inputs).map((input) => relative(ROOT, join(ROOT, input)));
  const manifest: ConsoleManifest = { script, style, builtAt: startedAt, inputs, gzippedScriptBytes };
  await writeAtomically(join(dir, MANIFEST), JSON.stringify(manifest, null, 2));
  await pruneOld(dir, manifest);
  return load(dir, manifest);
}

/** Earlier builds' files, once no page is likely to still ask for them (an hour). */
async function pruneOld(dir: string, manifest: ConsoleManifest): Promise<void> {
  const keep = new Set([MANIFEST, manifest.script, manifest.style]);
  const hourAgo = Date.now() - 3_600_000;
  for (const name of await readdir(dir)) {
    if (keep.has(name)) continue;
    const path = join(dir, name);
    const info = await stat(path).catch(() => null);
    if (info && info.mtimeMs < hourAgo) await rm(path, { force: true });
  }
}

async function esbuildInstalled(): Promise<boolean> {
  try {
    await import('esbuild');
    return true;
  } catch {
    return false;
  }
}

/**
 * The console, built if it has to be: with esbuild installed (a checkout after `npm install`) when there is no
 * build or an input changed since; without it (the container image, production dependencies only) the
 * prebuilt one. Null when there is neither.
 */
export async function loadConsole(dir = CONSOLE_BUILD_DIR): Promise<BuildOutcome | null> {
  const manifest = await readManifest(dir);
  if (manifest && !(await isStale(manifest))) {
    const bundle = await load(dir, manifest).catch(() => null);
    if (bundle) return { bundle, built: false };
  }
  if (!(await esbuildInstalled())) return manifest ? { bundle: await load(dir, manifest), built: false } : null;
  return { bundle: await buildConsole(dir), built: true };
}

/** `node server/console/build.ts`: what the Dockerfile's build stage runs. Prints the script's gzipped size. */
if (import.meta.main) {
  const bundle = await buildConsole();
  console.log(`admin console built into ${relative(process.cwd(), CONSOLE_BUILD_DIR) || '.'}: ${bundle.manifest.script} ${(bundle.manifest.gzippedScriptBytes / 1024).toFixed(1)} KiB gzipped, ${bundle.manifest.style}`);
}
