/**
 * What every topic of the scenario suite is given: the suite's fixture (one fault kit, one app per
 * test), a fresh counter key, and `gateway()`, which mounts an app in front of the fault kit.
 */
import type { AppSpec } from '../../support/apps.js';
import type { GatewayFixture } from '../../support/gateway-fixture.js';

export const HTML = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' };
export const JSON_ACCEPT = { accept: 'application/json' };

export interface ScenarioContext {
  readonly fx: GatewayFixture;
  /** A new counter key, so the upstream's attempt counts are the test's own. */
  readonly k: () => string;
  /**
   * Mount an app for this test; returns its base URL. Without `proxies`, one proxy on every
   * path to the fault kit, with `proxy` merged into its options.
   */
  readonly gateway: (spec?: Omit<AppSpec, 'proxy'> & { proxy?: Record<string, unknown> }) => Promise<string>;
}

export function scenarioContext(fx: GatewayFixture): ScenarioContext {
  return {
    fx,
    k: fx.key,
    gateway({ proxy, ...spec } = {}) {
      const proxies = spec.proxies ?? [{ prefix: '/', options: { target: fx.kit.url, ...proxy } }];
      return fx.mount({ ...spec, proxies });
    },
  };
}
