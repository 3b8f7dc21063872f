/**
 * The per-suite fixture of the shared scenario suites: one fault kit for the suite, one app per
 * test (closed after it), and a fresh counter key per test so attempt counts are the test's own.
 */
import { afterAll, afterEach, beforeAll } from 'vitest';
import type { AppSpec, MountedApp, Mount } from './apps.js';
import { startFaultKit, type FaultKit } from './fault-kit.js';

export interface GatewayFixture {
  /** The suite's fault-kit upstream. */
  readonly kit: FaultKit;
  /** A new counter key. */
  key(): string;
  /** Mount an app for this test; it is closed after the test. Returns its base URL. */
  mount(spec: AppSpec): Promise<string>;
  /** The same, returning the whole app (its gatewayErrors() handle too). */
  mountApp(spec: AppSpec): Promise<MountedApp>;
}

export function useGatewayFixture(mountApp: Mount, prefix: string): GatewayFixture {
  let kit: FaultKit | undefined;
  let app: MountedApp | undefined;
  let n = 0;
  beforeAll(async () => {
    kit = await startFaultKit();
  });
  afterAll(async () => {
    await kit?.close();
  });
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });
  return {
    get kit() {
      if (kit === undefined) throw new Error('the fault kit starts in beforeAll');
      return kit;
    },
    key: () => `${prefix}${++n}`,
    async mount(spec) {
      app = await mountApp(spec);
      return app.url;
    },
    async mountApp(spec) {
      app = await mountApp(spec);
      return app;
    },
  };
}
