// Resolves relative imports between the files of an installed package without Node's per-import
// package.json parse: on Node 22+ every ES module resolved inside a package reads and deserialises that
// package's package.json again to learn its "type", which for drizzle-orm (134 KB, 447 exports) costs
// seconds and ~190 MB at start-up. The answer is the same for every file of a package, so it is read once;
// and a package name imported from many files of one directory is resolved once for that directory.
import { readFileSync, statSync } from 'node:fs';
import { enableCompileCache, registerHooks } from 'node:module';
import { dirname, extname, join, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// V8's code cache and the type-stripped TypeScript, kept between starts (NODE_COMPILE_CACHE or the OS temp
// directory; keyed by content, so an edited file is compiled afresh; a read-only disk just turns it off).
enableCompileCache();

/** @typedef {'module' | 'commonjs' | 'json'} Format */

/** @type {Map<string, Format>} Directory → the module type of the package scope it is in. */
const scopeTypes = new Map();

/**
 * The "type" of the nearest package.json above `dir`, as Node decides it for a `.js` file.
 * @param {string} dir
 * @returns {Format}
 */
function scopeType(dir) {
  const cached = scopeTypes.get(dir);
  if (cached) return cached;
  /** @type {Format} */
  let type = 'commonjs';
  const manifest = join(dir, 'package.json');
  const parent = dirname(dir);
  if (statSync(manifest, { throwIfNoEntry: false })?.isFile()) {
    /** @type {unknown} */
    const data = JSON.parse(readFileSync(manifest, 'utf8'));
    type = typeof data === 'object' && data !== null && 'type' in data && data.type === 'module' ? 'module' : 'commonjs';
  } else if (parent !== dir && !dir.endsWith(`${sep}node_modules`)) {
    type = scopeType(parent);
  }
  scopeTypes.set(dir, type);
  return type;
}

/** @type {Record<string, Format>} */
const FORMATS = { '.mjs': 'module', '.cjs': 'commonjs', '.json': 'json' };

/** @type {Map<string, import('node:module').ResolveFnOutput>} `dir\0specifier\0conditions` → Node's own answer. */
const bareResolutions = new Map();

registerHooks({
  resolve(specifier, context, nextResolve) {
    const parent = context.parentURL;
    if (parent?.startsWith('file:') && parent.includes('/node_modules/') && (specifier.startsWith('./') || specifier.startsWith('../'))) {
      const url = new globalThis.URL(specifier, parent);
      const path = url.search || url.hash ? null : fileURLToPath(url);
      const extension = path ? extname(path) : '';
      // Anything unusual (no extension, a directory, a missing file) takes Node's own path and its errors.
      if (path && (extension === '.js' || extension in FORMATS) && statSync(path, { throwIfNoEntry: false })?.isFile()) {
        const format = extension === '.js' ? scopeType(dirname(path)) : FORMATS[extension];
        return { url: pathToFileURL(path).href, format, shortCircuit: true };
      }
    }
    if (parent?.startsWith('file:') && /^(@[\w.-]+\/)?[\w.-]/.test(specifier) && !specifier.startsWith('node:')) {
      // Resolving a package name depends only on the importing file's directory and the conditions.
      const key = `${parent.slice(0, parent.lastIndexOf('/'))}\0${specifier}\0${context.conditions?.join(',')}`;
      const known = bareResolutions.get(key);
      if (known) return known;
      const resolved = nextResolve(specifier, context);
      bareResolutions.set(key, { ...resolved, shortCircuit: true });
      return resolved;
    }
    return nextResolve(specifier, context);
  },
});
