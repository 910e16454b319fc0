// The processes' node arguments are written in three places (package.json, the Dockerfile, and the code that
// starts processes in tests and the benchmark): this keeps them the same.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SERVER_NODE_ARGS } from '../server/runtime/node-args.ts';

const scripts = (JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> }).scripts;

describe('node arguments of the long-running processes', () => {
  it.each([
    ['start', 'server/main.ts'],
    ['worker', 'jobs/worker.ts'],
  ])('npm run %s is node with SERVER_NODE_ARGS', (name, entry) => {
    expect(scripts[name]).toBe(['node', ...SERVER_NODE_ARGS, entry].join(' '));
  });

  it('npm run dev is npm start under --watch', () => {
    const args = scripts.dev.split(' ');
    expect(args.filter((arg) => !arg.startsWith('--watch')).join(' ')).toBe(scripts.start);
    expect(args).toContain('--watch');
  });

  it('the image passes the same flags in NODE_OPTIONS (the entry points import the preload themselves)', () => {
    const flags = SERVER_NODE_ARGS.slice(0, SERVER_NODE_ARGS.indexOf('--import'));
    expect(flags.length).toBeGreaterThan(0);
    expect(/NODE_OPTIONS="([^"]*)"/.exec(readFileSync('Dockerfile', 'utf8'))?.[1]).toBe(flags.join(' '));
  });
});
