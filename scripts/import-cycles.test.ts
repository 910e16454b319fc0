// Modules that import each other load in an order that depends on which one a process imports first: a value
// read at load time can then be undefined in one entry point and fine in another. This keeps the static value
// imports of our sources (type-only imports and lazy `import()` aside) free of cycles.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' || entry.name === 'dist' ? [] : sources(path);
    return /\.tsx?$/.test(entry.name) && !/\.test\.tsx?$/.test(entry.name) ? [path] : [];
  });
}

/** Each module's relative value imports and re-exports (`import type` and `export type` carry no value). */
function importGraph(): Map<string, string[]> {
  const files = ['server', 'jobs', 'db', 'scripts', 'client-sdk/src'].flatMap((dir) => sources(join(root, dir)));
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const targets = [...text.matchAll(/^(?:import|export)(?!\s+type\b)[^;'"]*?from\s+'(\.{1,2}\/[^']+)'/gm), ...text.matchAll(/^import\s+'(\.{1,2}\/[^']+)'/gm)]
      .map((match) => resolve(dirname(file), match[1]))
      .filter((target) => known.has(target));
    graph.set(file, targets);
  }
  return graph;
}

function cycles(graph: Map<string, string[]>): string[] {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const found: string[] = [];
  const visit = (file: string) => {
    state.set(file, 'open');
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (state.get(next) === 'open') found.push([...stack.slice(stack.indexOf(next)), next].map((path) => relative(root, path)).join(' -> '));
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
  return found;
}

describe('imports between our modules', () => {
  it('form no cycle', () => {
    const graph = importGraph();
    // The scan itself works: the server's entry imports its modules.
    expect([...graph.values()].flat().length).toBeGreaterThan(200);
    expect(graph.get(join(root, 'server', 'main.ts'))?.length).toBeGreaterThan(0);
    expect(cycles(graph)).toEqual([]);
  });

  it('are found when two modules import each other', () => {
    const a = join(root, 'a.ts');
    const b = join(root, 'b.ts');
    expect(cycles(new Map([[a, [b]], [b, [a]]]))).toEqual(['a.ts -> b.ts -> a.ts']);
  });
});
