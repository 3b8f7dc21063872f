#!/usr/bin/env node
/**
 * The package as users get it: `npm pack`, then a fresh app directory that installs the tarball
 * (plus express@5 and koa@3 from the registry) and uses it from ESM `import`, CommonJS
 * `require()` and a strict TypeScript file. Each fixture in test/pack/consumer/ starts real apps
 * on 127.0.0.1 and checks the 502 answer to a refused upstream.
 *
 *   node scripts/pack-test.mjs                 pack the current build (run `npm run build` first)
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
const args = process.argv.slice(2);
const keep = args.includes('--keep');
const given = args.includes('--tarball') ? path.resolve(args[args.indexOf('--tarball') + 1] ?? '') : undefined;
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const tsc = path.join(root, 'node_modules/typescript/bin/tsc');

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
];

const work = mkdtempSync(path.join(tmpdir(), 'gateway-errors-pack-'));
const app = path.join(work, 'app');
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
  if (!existsSync(path.join(root, 'dist/index.js'))) throw new Error('dist/ is missing: run `npm run build` first');
  const out = JSON.parse(run(npm, ['pack', '--json', '--pack-destination', work], root));
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
step('TypeScript: type-checks (strict, NodeNext, no casts), then runs', () => {
  // One compile: with noEmitOnError, any type error fails here before anything is emitted.
  run(process.execPath, [tsc, '-p', 'tsconfig.json']);
  const version = JSON.parse(readFileSync(path.join(root, 'node_modules/typescript/package.json'), 'utf8')).version;
  return `TypeScript ${version}, ${run(process.execPath, ['out/strict.js']).trim().split('\n').length} checks`;
});

if (!failed && !keep) rmSync(work, { recursive: true, force: true });
else console.log(`pack: app directory kept at ${app}`);
