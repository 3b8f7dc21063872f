#!/usr/bin/env node
/**
 * The CommonJS copy of the package, for tools that cannot require() an ES module: Jest's
 * CommonJS runtime before Node 24.9, older bundlers and test runners. Node itself loads it too
 * for `require('gateway-errors')`, through the `require` condition of `exports`.
 *
 * Runs after `tsc -p tsconfig.build.json` (the ES module build in dist/) and writes, next to each
 * dist/<file>.js, a dist/<file>.cjs and a dist/<file>.d.cts:
 *
 * - One .cjs per source file, not one bundle per entry point: esbuild cannot split shared code
 *   in CommonJS output, so a bundle per entry point would give `gateway-errors` and
 *   `gateway-errors/express` each their own copy of the core in one process.
 * - The dependencies that are CommonJS (http-proxy-middleware, http-proxy, cockatiel,
 *   negotiator) stay plain require() calls, shared with the ES module build. The ES-module-only
 *   ones (p-retry and its is-network-error, eta) are inlined into the one file that imports each:
 *   require() of them is exactly what fails under Jest on Node 20 and 22.
 * - Same directory and depth as the ES module build, so `new URL('../../../templates/',
 *   import.meta.url)` in core/answer/render.ts finds templates/ unchanged: import.meta.url becomes the
 *   .cjs file's own file: URL.
 * - The .d.cts files are the .d.ts files with relative specifiers pointing at the .cjs twins:
 *   TypeScript reads a .d.ts under "type": "module" as ES module types, which would tell
 *   CommonJS users they cannot require() the package.
 *
 * src/cli.ts is left out: the bin runs dist/cli.js, and no entry point exports it.
 */
import { build } from 'esbuild';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'src');
const dist = path.join(root, 'dist');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));

/**
 * Runtime dependencies (and theirs) that are ES modules only: inlined. All others stay require()
 * calls. A new ES-module-only dependency left out here fails the Jest consumer test of the pack
 * leg on Node 20 ("Must use import to load ES Module").
 */
const INLINE = new Set(['p-retry', 'is-network-error', 'eta']);
const packageOf = (spec) => (spec.startsWith('@') ? spec.split('/', 2).join('/') : spec.split('/', 1)[0]);

const entryPoints = readdirSync(src, { recursive: true })
  .map((f) => path.join(src, String(f)))
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && f !== path.join(src, 'cli.ts'));

const result = await build({
  entryPoints,
  outdir: dist,
  outbase: src,
  outExtension: { '.js': '.cjs' },
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20.19',
  logLevel: 'warning',
  metafile: true,
  // import.meta does not exist in CommonJS: the .cjs file's own URL stands in for it.
  define: { 'import.meta.url': '__gatewayErrorsModuleUrl' },
  inject: [path.join(root, 'scripts/cjs-shim.mjs')],
  plugins: [
    {
      name: 'externals',
      setup(b) {
        // Sibling modules: the .cjs twin, required at run time (not inlined, see above).
        b.onResolve({ filter: /^\.\.?\// }, (args) => {
          if (args.kind === 'entry-point' || args.importer.includes(`${path.sep}node_modules${path.sep}`)) return undefined;
          if (args.path.endsWith('cjs-shim.mjs')) return undefined;
          return { path: args.path.replace(/\.js$/, '.cjs'), external: true };
        });
        b.onResolve({ filter: /^[^./]/ }, (args) => {
          if (args.path.startsWith('node:') || INLINE.has(packageOf(args.path))) return undefined;
          return { path: args.path, external: true };
        });
      },
    },
  ],
});

// Each inlined dependency file must land in one output only: two copies would each keep their
// own module state.
const seen = new Map();
for (const [out, meta] of Object.entries(result.metafile.outputs)) {
  for (const input of Object.keys(meta.inputs)) {
    if (!input.includes('node_modules/')) continue;
    if (seen.has(input)) throw new Error(`build-cjs: ${input} is inlined in both ${seen.get(input)} and ${out}`);
    seen.set(input, out);
  }
}

// CommonJS types: each .d.ts again as .d.cts, its relative imports pointing at .cjs twins.
let types = 0;
for (const f of readdirSync(dist, { recursive: true }).map(String)) {
  if (!f.endsWith('.d.ts') || f === 'cli.d.ts') continue;
  const text = readFileSync(path.join(dist, f), 'utf8').replace(
    /((?:from|import\()\s*['"])(\.\.?\/[^'"]*?)\.js(['"])/g,
    '$1$2.cjs$3',
  );
  writeFileSync(path.join(dist, f.replace(/\.d\.ts$/, '.d.cts')), text);
  types++;
}

const inlined = [...new Set([...seen.keys()].map((i) => packageOf(i.slice(i.lastIndexOf('node_modules/') + 13))))];
console.log(`build-cjs: ${Object.keys(result.metafile.outputs).length} .cjs files, ${types} .d.cts files; inlined: ${inlined.join(', ')}`);
