/**
 * Without OpenTelemetry: the package must work, from its ES module and its CommonJS build, when
 * `@opentelemetry/api` is not installed at all (a child process whose resolver hides it), and
 * must not even load the API when it is installed but no SDK registered a provider.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { loadApi, metricsOn, resetApi, tracingOn } from '../../src/core/observe/telemetry.js';

const run = promisify(execFile);
const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const built = existsSync(fileURLToPath(new URL('../../dist/express/index.cjs', import.meta.url)));

async function child(flavour: 'esm' | 'cjs', slot: 'registered' | 'none' | 'sdk', hide: boolean, events: boolean) {
  const args = [...(hide ? ['--require', fixture('hide-otel.cjs')] : []), fixture('otel-absent-app.cjs'), flavour, slot, events ? 'events' : ''];
  const { stdout } = await run(process.execPath, args, { timeout: 15_000 });
  return JSON.parse(stdout.trim().split('\n').pop()!) as { apiHidden: boolean; statuses: number[]; ends: string[]; apiLoaded: boolean; recorded: number | null };
}

describe.skipIf(!built)('without @opentelemetry/api (the built package, in a child process)', () => {
  it.each(['esm', 'cjs'] as const)('proxies and answers errors from the %s build, with a provider registered but the API missing', async (flavour) => {
    const r = await child(flavour, 'registered', true, true);
    expect(r).toEqual({ apiHidden: true, statuses: [200, 502], ends: ['ok 200', 'gave_up 502'], apiLoaded: false, recorded: null });
  });

  it.each(['esm', 'cjs'] as const)('never loads the API from the %s build when no SDK registered anything', async (flavour) => {
    const r = await child(flavour, 'none', false, false);
    expect(r).toEqual({ apiHidden: false, statuses: [200, 502], ends: [], apiLoaded: false, recorded: null });
  });

  it.each(['esm', 'cjs'] as const)('records from the %s build once an SDK registered a provider (the control)', async (flavour) => {
    const r = await child(flavour, 'sdk', false, false);
    expect(r).toEqual({ apiHidden: false, statuses: [200, 502], ends: [], apiLoaded: true, recorded: 2 });
  });
});

describe('the lazy loader', () => {
  afterEach(() => resetApi());

  it('falls back to nothing when the API cannot be required, and reports neither metrics nor tracing on', () => {
    const slot = Symbol.for('opentelemetry.js.api.1');
    const g = globalThis as Record<symbol, unknown>;
    const before = g[slot];
    g[slot] = { version: '1.9.0', metrics: {}, trace: {} };
    try {
      expect(loadApi(() => {
        throw Object.assign(new Error("Cannot find module '@opentelemetry/api'"), { code: 'MODULE_NOT_FOUND' });
      })).toBeNull();
      expect(metricsOn()).toBe(false);
      expect(tracingOn()).toBe(false);
    } finally {
      g[slot] = before;
    }
  });
});
