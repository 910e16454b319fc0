// The console's build: esbuild's bundle within its size budget, reused while its inputs are unchanged, built again when one changes.
import { mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConsole, type ConsoleManifest } from './build.ts';

const dir = mkdtempSync(join(tmpdir(), 'console-build-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the admin console build', () => {
  it('bundles one script within 150 KB gzipped and one stylesheet, then reuses them until an input changes', async () => {
    const first = await loadConsole(dir);
    expect(first?.built).toBe(true);
    const manifest = first!.bundle.manifest;
    expect(manifest.script).toMatch(/^main-[A-Z0-9]+\.js$/);
    expect(manifest.style).toMatch(/^main-[A-Z0-9]+\.css$/);
    expect(manifest.gzippedScriptBytes).toBeGreaterThan(0);
    expect(manifest.gzippedScriptBytes).toBeLessThanOrEqual(150 * 1024);
    // Its inputs: our sources, the SDK's sources (not a build of it) and the browser libraries.
    expect(manifest.inputs).toEqual(expect.arrayContaining(['server/console/src/main.tsx', 'client-sdk/src/index.ts']));
    expect(manifest.inputs.some((input) => input.startsWith('node_modules/preact/'))).toBe(true);
    expect(manifest.inputs.some((input) => input.startsWith('node_modules/uplot/'))).toBe(true);
    const script = first!.bundle.assets.get(manifest.script)?.body.toString('utf8') ?? '';
    // Nothing the console's CSP (no 'unsafe-eval') refuses; what it requests is checked in the browser (console.test.ts).
    expect(script.length).toBeGreaterThan(0);
    expect(/\beval\(|new Function\(/.test(script)).toBe(false);

    const again = await loadConsole(dir);
    expect(again?.built).toBe(false);
    expect(again?.bundle.manifest.script).toBe(manifest.script);

    // An input newer than the build (here one more input, written after it): built again.
    const input = join(dir, 'input.ts');
    writeFileSync(input, '');
    utimesSync(input, new Date(), new Date(manifest.builtAt + 1000));
    const stale: ConsoleManifest = { ...manifest, inputs: [...manifest.inputs, input] };
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(stale));
    const rebuilt = await loadConsole(dir);
    expect(rebuilt?.built).toBe(true);
    expect((JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as ConsoleManifest).inputs).not.toContain(input);
  });
});
