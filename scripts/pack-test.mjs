#!/usr/bin/env node
/**
 * The package as users get it: `npm pack` with no dist/ (as in a fresh clone: the `prepare`
 * script must build it), publint and attw over the tarball, then a fresh app directory that
 * installs the tarball (plus express@5 and koa@3 from the npm cache) and uses it from ESM
 * `import`, CommonJS `require()`, both at once, and a strict TypeScript file; and a CommonJS app
 * tested with Jest in its default setup (test/pack/jest-consumer/), on this Node and on Node 22.
 * Each fixture starts real apps on 127.0.0.1 and checks the 502 answer to a refused upstream.
 *
 *   node scripts/pack-test.mjs                 delete dist/, then npm pack (prepare rebuilds it)
 *   node scripts/pack-test.mjs --tarball x.tgz use a tarball packed earlier
 *   node scripts/pack-test.mjs --keep          keep the app directory for a look afterwards
 *
 * Exits non-zero on the first failing step; the app directory is kept when something failed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const fixtures = path.join(root, 'test/pack/consumer');
const jestFixture = path.join(root, 'test/pack/jest-consumer');
const args = process.argv.slice(2);
const keep = args.includes('--keep');
const given = args.includes('--tarball') ? path.resolve(args[args.indexOf('--tarball') + 1] ?? '') : undefined;
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';
const tsc = path.join(root, 'node_modules/typescript/bin/tsc');
/** Node 22 for the Jest app, from the npm registry as the matrix's node22 leg gets it; '' skips. */
const node22 = process.env.PACK_NODE22 ?? 'node@22';

/** What may ship: the build, the templates, and the three files npm always wants. */
const ALLOWED = [/^dist\//, /^templates\//, /^README\.md$/, /^LICENSE$/, /^package\.json$/];
const REQUIRED = [
  'package.json',
  'LICENSE',
  'dist/index.js',
  'dist/index.d.ts',
  'dist/express/index.js',
  'dist/express/index.d.ts',
  'dist/koa/index.js',
  'dist/koa/index.d.ts',
  'dist/index.cjs',
  'dist/index.d.cts',
  'dist/express/index.cjs',
  'dist/express/index.d.cts',
  'dist/koa/index.cjs',
  'dist/koa/index.d.cts',
];

const work = mkdtempSync(path.join(tmpdir(), 'gateway-errors-pack-'));
const app = path.join(work, 'app');
const jestApp = path.join(work, 'jest-app');
let failed = false;

function step(name, fn) {
  const t0 = Date.now();
  try {
    const out = fn();
    console.log(`pack: ok   ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)${out ? ` — ${out}` : ''}`);
  } catch (err) {
    failed = true;
    console.log(`pack: FAIL ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    console.log(String(err.stdout ?? '') + String(err.stderr ?? '') || err.stack || err);
    console.log(`pack: app directory kept at ${app}`);
    process.exit(1);
  }
}

/** Run a command in the app dir; throw with its output when it fails. */
function run(cmd, cmdArgs, cwd = app) {
  const r = spawnSync(cmd, cmdArgs, { cwd, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' }, timeout: 300_000 });
  if (r.status !== 0) {
    const err = new Error(`${cmd} ${cmdArgs.join(' ')} exited with ${r.status ?? r.signal}`);
    Object.assign(err, { stdout: `$ ${cmd} ${cmdArgs.join(' ')}\n${r.stdout}`, stderr: r.stderr });
    throw err;
  }
  return r.stdout;
}

let tarball = given;
let files = [];

step(given ? `tarball ${path.basename(given)}` : 'npm pack', () => {
  if (given) {
    if (!existsSync(given)) throw new Error(`no such tarball: ${given}`);
    files = execFileSync('tar', ['-tzf', given], { encoding: 'utf8' })
      .split('\n')
      .filter((f) => f && !f.endsWith('/'))
      .map((f) => f.replace(/^package\//, ''));
    return `${files.length} files`;
  }
  // What a fresh clone has: no build. npm pack runs `prepare`, which must make one.
  rmSync(path.join(root, 'dist'), { recursive: true, force: true });
  const printed = run(npm, ['pack', '--json', '--pack-destination', work], root);
  // The build's own output (prepare) comes first on stdout; npm's JSON report is the rest.
  const out = JSON.parse(printed.slice(printed.search(/^\[/m)));
  tarball = path.join(work, out[0].filename);
  files = out[0].files.map((f) => f.path);
  return `${path.basename(tarball)}, ${files.length} files, ${(out[0].size / 1024).toFixed(1)} KiB packed`;
});

step('tarball holds only dist/, templates/, README.md, LICENSE, package.json', () => {
  const stray = files.filter((f) => !ALLOWED.some((re) => re.test(f)));
  if (stray.length) throw new Error(`unexpected files in the tarball:\n  ${stray.join('\n  ')}`);
  const missing = REQUIRED.filter((f) => !files.includes(f));
  if (!files.some((f) => /^templates\/.+\.eta$/.test(f))) missing.push('templates/*.eta');
  if (existsSync(path.join(root, 'README.md')) && !files.includes('README.md')) missing.push('README.md');
  if (missing.length) throw new Error(`missing from the tarball: ${missing.join(', ')}`);
  const maps = files.filter((f) => f.endsWith('.map')).length;
  return `${files.filter((f) => f.startsWith('dist/')).length} in dist/ (${maps} source maps), ${files.filter((f) => f.startsWith('templates/')).length} templates`;
});

step('publint and attw find nothing wrong in the tarball', () => {
  // Both read the tarball only: no network.
  const publint = run(process.execPath, [path.join(root, 'node_modules/publint/src/cli.js'), 'run', '--strict', tarball], root);
  if (!/All good/.test(publint)) throw Object.assign(new Error('publint reported something'), { stdout: publint });
  const attw = path.join(root, 'node_modules/@arethetypeswrong/cli/dist/index.js');
  run(process.execPath, [attw, '--format', 'table-flipped', tarball], root);
  return 'publint --strict: all good; attw: no problems (node10, node16 CJS and ESM, bundler)';
});

step('fresh app installs the tarball, express@5, koa@3 and their types', () => {
  cpSync(fixtures, app, { recursive: true });
  // strict.ts opts out of the repository's own type check (where 'gateway-errors' does not
  // resolve); here, installed, it must pass in full.
  const ts = path.join(app, 'strict.ts');
  const source = readFileSync(ts, 'utf8');
  if (!source.startsWith('// @ts-nocheck')) throw new Error('strict.ts should start with its @ts-nocheck line');
  writeFileSync(ts, source.slice(source.indexOf('\n') + 1));
  // Pin the type packages to the versions the repository builds against.
  const dev = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).devDependencies;
  run(npm, [
    'install',
    '--no-audit',
    '--no-fund',
    '--prefer-offline',
    '--loglevel=error',
    tarball,
    'express@5',
    'koa@3',
    `@types/express@${dev['@types/express']}`,
    `@types/koa@${dev['@types/koa']}`,
    `@types/node@${dev['@types/node']}`,
  ]);
  const installed = JSON.parse(readFileSync(path.join(app, 'node_modules/gateway-errors/package.json'), 'utf8'));
  const v = (name) => JSON.parse(readFileSync(path.join(app, 'node_modules', name, 'package.json'), 'utf8')).version;
  return `gateway-errors ${installed.version}, express ${v('express')}, koa ${v('koa')}`;
});

step('ESM: import gateway-errors, /express, /koa', () => run(process.execPath, ['esm.mjs']).trim().split('\n').length + ' checks');
step('CJS: require() gateway-errors, /express, /koa', () => run(process.execPath, ['cjs.cjs']).trim().split('\n').length + ' checks');
step('ESM and CJS copies in one process: each brands the other\'s proxy', () => run(process.execPath, ['dual.mjs']).trim().split('\n').length + ' checks');
step('TypeScript: type-checks (strict, NodeNext, no casts), then runs', () => {
  // One compile: with noEmitOnError, any type error fails here before anything is emitted.
  run(process.execPath, [tsc, '-p', 'tsconfig.json']);
  const version = JSON.parse(readFileSync(path.join(root, 'node_modules/typescript/package.json'), 'utf8')).version;
  return `TypeScript ${version}, ${run(process.execPath, ['out/strict.js']).trim().split('\n').length} checks`;
});

step('Jest app installs the tarball, express@5 and jest', () => {
  cpSync(jestFixture, jestApp, { recursive: true });
  const dev = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).devDependencies;
  run(npm, ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', tarball, 'express@5', `jest@${dev.jest}`], jestApp);
  const v = (name) => JSON.parse(readFileSync(path.join(jestApp, 'node_modules', name, 'package.json'), 'utf8')).version;
  return `jest ${v('jest')}, express ${v('express')}`;
});

/** Run the Jest app's tests with `node` (a command and its leading arguments); report the counts. */
function jest(node) {
  const out = run(node[0], [...node.slice(1), 'node_modules/jest/bin/jest.js', '--ci', '--json', '--cacheDirectory', path.join(work, 'jest-cache')], jestApp);
  const report = JSON.parse(out.slice(out.indexOf('{')));
  if (!report.success || report.numTotalTests === 0) throw Object.assign(new Error('jest failed'), { stdout: out });
  return `${report.numPassedTests} tests passed`;
}
step(`Jest (CommonJS, defaults): require('gateway-errors/express') on Node ${process.versions.node}`, () => jest([process.execPath]));
if (node22) {
  step(`Jest (CommonJS, defaults) on ${node22}`, () => {
    const version = run(npx, ['-y', '--prefer-offline', '-p', node22, '--', 'node', '--version'], jestApp).trim();
    return `${version}: ${jest([npx, '-y', '--prefer-offline', '-p', node22, '--', 'node'])}`;
  });
}

if (!failed && !keep) rmSync(work, { recursive: true, force: true });
else console.log(`pack: app directory kept at ${app}`);
