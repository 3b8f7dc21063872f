/**
 * Every public option is checked when the middleware is created: a wrong type or an
 * out-of-range value throws a TypeError naming the option, before the app serves a request.
 * Each case runs against both adapters, because each adapter wires the core's checks itself.
 */
import { describe, expect, it } from 'vitest';
import { forEachAdapter } from '../support/apps.js';
import { MAX_TIMER } from '../../src/core/options.js';

const TARGET = 'http://127.0.0.1:9';

/** A bad value, the option path the TypeError must name, and why it is bad. */
type Case = [why: string, options: unknown, names: string];


/** `fn()` throws a TypeError whose message names `name` in backticks, as p-retry does. */
function expectOptionError(fn: () => unknown, name: string): void {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown, `expected a TypeError naming \`${name}\``).toBeInstanceOf(TypeError);
  expect((thrown as TypeError).message).toContain(`\`${name}\``);
}

const errorsCases: Case[] = [
  // the options object itself
  ['options that are a number', 5, 'options'],
  ['options that are a string', 'Acme', 'options'],
  ['options that are an array', [], 'options'],
  ['options that are null', null, 'options'],
  ['an unknown option (a typo)', { proxyname: 'edge' }, 'options.proxyname'],
  // proxyName
  ['a proxyName that is not a string', { proxyName: 5 }, 'options.proxyName'],
  ['an empty proxyName', { proxyName: '' }, 'options.proxyName'],
  ['a proxyName with a space (not an RFC 8941 token)', { proxyName: 'edge proxy' }, 'options.proxyName'],
  ['a proxyName starting with a digit (not a token)', { proxyName: '1edge' }, 'options.proxyName'],
  ['a proxyName longer than 64 characters', { proxyName: 'a'.repeat(65) }, 'options.proxyName'],
  // retryAfter
  ['a retryAfter given as a string', { retryAfter: '30' }, 'options.retryAfter'],
  ['a negative retryAfter', { retryAfter: -1 }, 'options.retryAfter'],
  ['a fractional retryAfter', { retryAfter: 1.5 }, 'options.retryAfter'],
  ['a retryAfter above one day', { retryAfter: 86_401 }, 'options.retryAfter'],
  ['a NaN retryAfter', { retryAfter: Number.NaN }, 'options.retryAfter'],
  // booleans
  ['an expose that is a string', { expose: 'yes' }, 'options.expose'],
  ['a keepUpstreamBody that is a number', { keepUpstreamBody: 1 }, 'options.keepUpstreamBody'],
  // bodyLimit
  ['a negative bodyLimit', { bodyLimit: -1 }, 'options.bodyLimit'],
  ['a bodyLimit of Infinity', { bodyLimit: Number.POSITIVE_INFINITY }, 'options.bodyLimit'],
  ['a bodyLimit given as a string', { bodyLimit: '1mb' }, 'options.bodyLimit'],
  // templates
  ['a templates that is not a path', { templates: 5 }, 'options.templates'],
  // extraStatuses
  ['an extraStatuses that is not an array', { extraStatuses: 429 }, 'options.extraStatuses'],
  ['an extraStatuses with a status that has no page', { extraStatuses: [429, 404] }, 'options.extraStatuses'],
  ['an extraStatuses with a status as a string', { extraStatuses: ['500'] }, 'options.extraStatuses'],
  // maintenance
  ['a maintenance that is not an object', { maintenance: true }, 'options.maintenance'],
  ['an unknown maintenance key', { maintenance: { on: true } }, 'options.maintenance.on'],
  ['a maintenance.active that is a string', { maintenance: { active: 'yes' } }, 'options.maintenance.active'],
  ['a maintenance.until that is not a date', { maintenance: { until: 'at two' } }, 'options.maintenance.until'],
  ['a maintenance.until that is an invalid Date', { maintenance: { until: new Date(Number.NaN) } }, 'options.maintenance.until'],
  ['a maintenance.until given as a number', { maintenance: { until: 1_800_000_000_000 } }, 'options.maintenance.until'],
  ['a maintenance.message longer than 500 characters', { maintenance: { message: 'x'.repeat(501) } }, 'options.maintenance.message'],
  ['a maintenance.retryAfter above one day', { maintenance: { retryAfter: 86_401 } }, 'options.maintenance.retryAfter'],
  ['a maintenance.allow that is a string', { maintenance: { allow: '/healthz' } }, 'options.maintenance.allow'],
  ['a maintenance.allow path without a leading slash', { maintenance: { allow: ['healthz'] } }, 'options.maintenance.allow'],
  ['a maintenance.allow with a * inside', { maintenance: { allow: ['/a*/b'] } }, 'options.maintenance.allow'],
  ['a maintenance.allow that lets everything through', { maintenance: { allow: ['/*'] } }, 'options.maintenance.allow'],
  ['a maintenance.allow with a query', { maintenance: { allow: ['/status?x=1'] } }, 'options.maintenance.allow'],
  ['a maintenance.bypass that is not a function', { maintenance: { bypass: true } }, 'options.maintenance.bypass'],
  // maintenance events
  ['an onMaintenanceStart that is not a function', { onMaintenanceStart: 'log' }, 'options.onMaintenanceStart'],
  ['a logger without warn()', { logger: { info() {} } }, 'logger'],
  // brand
  ['a null brand', { brand: null }, 'brand'],
  ['a brand that is a string', { brand: 'Acme' }, 'brand'],
  ['an unknown brand key', { brand: { title: 'Acme' } }, 'brand.title'],
  ['a brand.name that is a number', { brand: { name: 5 } }, 'brand.name'],
  ['an empty brand.name', { brand: { name: '  ' } }, 'brand.name'],
  ['a brand.footer longer than 500 characters', { brand: { footer: 'x'.repeat(501) } }, 'brand.footer'],
  ['a javascript: brand.logo', { brand: { logo: 'javascript:alert(1)' } }, 'brand.logo'],
  ['a brand.logo <svg> that never closes', { brand: { logo: '<svg viewBox="0 0 1 1">' } }, 'brand.logo'],
  ['a javascript: brand.statusPage', { brand: { statusPage: 'javascript:alert(1)' } }, 'brand.statusPage'],
  ['a brand.support that is not a URL or address', { brand: { support: 'ftp://x' } }, 'brand.support'],
  ['a brand.home with a quote', { brand: { home: '/"onload' } }, 'brand.home'],
  ['brand.colors that are a string', { brand: { colors: '#fff' } }, 'brand.colors'],
  ['an unknown brand.colors key', { brand: { colors: { primary: '#fff' } } }, 'brand.colors.primary'],
  ['a brand.colors.accent that escapes its CSS declaration', { brand: { colors: { accent: 'red;}body{x:y' } } }, 'brand.colors.accent'],
  ['a brand.colors.darkText that is a number', { brand: { colors: { darkText: 0 } } }, 'brand.colors.darkText'],
  // locales
  ['locales that are a string', { locales: 'pt-BR' }, 'locales'],
  ['a locales key that is not a language tag', { locales: { 'not a tag': {} } }, 'locales'],
  ['a locales entry that is not an object', { locales: { 'pt-BR': 'Olá' } }, 'locales.pt-BR'],
];

const retryCases: Case[] = [
  ['a retry that is a number', { retry: 3 }, 'retry'],
  ['a retry of true', { retry: true }, 'retry'],
  ['a retry that is an array', { retry: [] }, 'retry'],
  ['an unknown retry key (a typo)', { retry: { retires: 3 } }, 'retry.retires'],
  ['negative retry.retries', { retry: { retries: -1 } }, 'retry.retries'],
  ['fractional retry.retries', { retry: { retries: 1.5 } }, 'retry.retries'],
  ['retry.retries above 100', { retry: { retries: 101 } }, 'retry.retries'],
  ['retry.retries given as a string', { retry: { retries: '2' } }, 'retry.retries'],
  ['retry.retries of Infinity', { retry: { retries: Number.POSITIVE_INFINITY } }, 'retry.retries'],
  ['retry.methods that are a string', { retry: { methods: 'GET' } }, 'retry.methods'],
  ['retry.methods with a number', { retry: { methods: ['GET', 1] } }, 'retry.methods'],
  ['retry.methods with a space in a name', { retry: { methods: ['GE T'] } }, 'retry.methods'],
  ['a retry.idempotencyKey of true', { retry: { idempotencyKey: true } }, 'retry.idempotencyKey'],
  ['an empty retry.idempotencyKey', { retry: { idempotencyKey: '' } }, 'retry.idempotencyKey'],
  ['a retry.idempotencyKey that is not a header name', { retry: { idempotencyKey: 'idem key' } }, 'retry.idempotencyKey'],
  ['retry.statuses that are a number', { retry: { statuses: 503 } }, 'retry.statuses'],
  ['retry.statuses with a 200', { retry: { statuses: [200] } }, 'retry.statuses'],
  ['retry.statuses with 600', { retry: { statuses: [600] } }, 'retry.statuses'],
  ['retry.statuses with a string', { retry: { statuses: ['503'] } }, 'retry.statuses'],
  ['a negative retry.baseDelay', { retry: { baseDelay: -1 } }, 'retry.baseDelay'],
  ['a retry.baseDelay beyond the timer range', { retry: { baseDelay: MAX_TIMER + 1 } }, 'retry.baseDelay'],
  ['a fractional retry.maxDelay', { retry: { maxDelay: 0.5 } }, 'retry.maxDelay'],
  ['a retry.maxDelay given as a string', { retry: { maxDelay: '2s' } }, 'retry.maxDelay'],
  ['a NaN retry.maxRetryAfter', { retry: { maxRetryAfter: Number.NaN } }, 'retry.maxRetryAfter'],
  ['a retry.maxRetryAfter beyond the timer range', { retry: { maxRetryAfter: 2 ** 31 } }, 'retry.maxRetryAfter'],
  ['a negative retry.bodyLimit', { retry: { bodyLimit: -1 } }, 'retry.bodyLimit'],
];

const proxyCases: Case[] = [
  ...retryCases,
  ['a negative connectTimeout', { connectTimeout: -1 }, 'connectTimeout'],
  ['a connectTimeout given as a string', { connectTimeout: '5s' }, 'connectTimeout'],
  ['a connectTimeout beyond the timer range (Node would make it 1 ms)', { connectTimeout: MAX_TIMER + 1 }, 'connectTimeout'],
  ['a fractional responseTimeout', { responseTimeout: 0.5 }, 'responseTimeout'],
  ['a responseTimeout of Infinity', { responseTimeout: Number.POSITIVE_INFINITY }, 'responseTimeout'],
  ['a negative proxyTimeout (read as responseTimeout)', { proxyTimeout: -1 }, 'responseTimeout'],
  ['an onRetry that is not a function', { onRetry: 'log' }, 'onRetry'],
  ['an onGiveUp that is an object', { onGiveUp: {} }, 'onGiveUp'],
  ['a negative deadline', { deadline: -1 }, 'deadline'],
  ['a deadline given as a string', { deadline: '60s' }, 'deadline'],
  ['a fractional idleTimeout', { idleTimeout: 1.5 }, 'idleTimeout'],
  ['an idleTimeout beyond the timer range', { idleTimeout: MAX_TIMER + 1 }, 'idleTimeout'],
  ['a negative maxConcurrent', { maxConcurrent: -1 }, 'maxConcurrent'],
  ['a maxConcurrent given as a string', { maxConcurrent: 'ten' }, 'maxConcurrent'],
  ['a budget of true', { budget: true }, 'budget'],
  ['an unknown budget key', { budget: { percent: 20 } }, 'budget.percent'],
  ['a budget.ratio above 1', { budget: { ratio: 1.5 } }, 'budget.ratio'],
  ['a NaN budget.ratio', { budget: { ratio: Number.NaN } }, 'budget.ratio'],
  ['a negative budget.minPerSecond', { budget: { minPerSecond: -1 } }, 'budget.minPerSecond'],
  ['a budget.window above one hour', { budget: { window: 3_600_001 } }, 'budget.window'],
  ['a circuit that is a number', { circuit: 5 }, 'circuit'],
  ['an unknown circuit key', { circuit: { threshold: 5 } }, 'circuit.threshold'],
  ['a negative circuit.consecutiveFailures', { circuit: { consecutiveFailures: -1 } }, 'circuit.consecutiveFailures'],
  ['a negative circuit.failureRate', { circuit: { failureRate: -0.1 } }, 'circuit.failureRate'],
  ['a circuit.failureRate of 0 (cockatiel needs more than 0)', { circuit: { failureRate: 0 } }, 'circuit.failureRate'],
  ['a circuit.failureRate of 1 (cockatiel needs less than 1)', { circuit: { failureRate: 1 } }, 'circuit.failureRate'],
  ['a circuit.minimumRps of 0 (cockatiel would guess one)', { circuit: { minimumRps: 0 } }, 'circuit.minimumRps'],
  ['a circuit.window under one second', { circuit: { window: 999 } }, 'circuit.window'],
  ['a circuit.minimumRps given as a string', { circuit: { minimumRps: '2' } }, 'circuit.minimumRps'],
  ['a negative circuit.halfOpenAfter', { circuit: { halfOpenAfter: -1 } }, 'circuit.halfOpenAfter'],
  ['an onCircuitOpen that is a string', { onCircuitOpen: 'alert' }, 'onCircuitOpen'],
  ['an onCircuitClose that is a number', { onCircuitClose: 5 }, 'onCircuitClose'],
  ['a logger that is a bare function', { logger: console.log }, 'logger'],
  ['a logger without warn()', { logger: { info: () => undefined } }, 'logger'],
  ['errors that are a string', { errors: 'Acme' }, 'errors'],
  ['an unknown errors key', { errors: { retries: 2 } }, 'errors.retries'],
  ['an errors.proxyName with a space', { errors: { proxyName: 'my proxy' } }, 'errors.proxyName'],
  ['an errors.retryAfter above one day', { errors: { retryAfter: 100_000 } }, 'errors.retryAfter'],
  ['an errors.expose that is a string', { errors: { expose: 'true' } }, 'errors.expose'],
  ['an errors.maintenance (maintenance runs in gatewayErrors())', { errors: { maintenance: {} } }, 'errors.maintenance'],
  ['an errors.extraStatuses with 404', { errors: { extraStatuses: [404] } }, 'errors.extraStatuses'],
  ['an outlier.consecutiveFailures of 0', { outlier: { consecutiveFailures: 0 } }, 'outlier.consecutiveFailures'],
  ['an outlier.maxEjectionPercent above 100', { outlier: { maxEjectionPercent: 101 } }, 'outlier.maxEjectionPercent'],
  ['an unknown outlier key', { outlier: { interval: 10 } }, 'outlier.interval'],
  ['a healthCheck without a path', { healthCheck: { interval: 1000 } }, 'healthCheck.path'],
  ['a healthCheck.path that is a URL', { healthCheck: { path: 'http://x/health' } }, 'healthCheck.path'],
  ['a healthCheck.interval of 0', { healthCheck: { path: '/h', interval: 0 } }, 'healthCheck.interval'],
];

/** `targets` stand instead of `target`. */
const targetsCases: Case[] = [
  ['an empty targets list', { targets: [] }, 'targets'],
  ['a targets entry that is not a URL', { targets: ['http://127.0.0.1:1', 'nope'] }, 'targets[1]'],
  ['a targets entry of another protocol', { targets: ['ftp://127.0.0.1:1'] }, 'targets[0]'],
  ['a targets entry listed twice', { targets: ['http://127.0.0.1:1', 'http://127.0.0.1:1'] }, 'targets[1]'],
  ['http and https targets together (one keep-alive agent)', { targets: ['http://127.0.0.1:1', 'https://127.0.0.1:2'] }, 'targets[1]'],
  ['a targets weight of 0', { targets: [{ url: 'http://127.0.0.1:1', weight: 0 }] }, 'targets[0].weight'],
  ['an unknown targets entry key', { targets: [{ url: 'http://127.0.0.1:1', host: 'x' }] }, 'targets[0].host'],
  ['targets with a target too', { targets: ['http://127.0.0.1:1'], target: 'http://127.0.0.1:2' }, 'targets'],
];

forEachAdapter('options of $name', ({ api: adapter }) => {
  describe('gatewayErrors() throws at creation, naming the option', () => {
    it.each(errorsCases)('on %s', (_why, options, name) => {
      expectOptionError(() => adapter.gatewayErrors(options as never), name);
    });
  });

  describe('gatewayProxy() throws at creation, naming the option', () => {
    it.each(proxyCases)('on %s', (_why, options, name) => {
      expectOptionError(() => adapter.gatewayProxy({ target: TARGET, ...(options as object) } as never), name);
    });
    it.each(targetsCases)('on %s', (_why, options, name) => {
      expectOptionError(() => adapter.gatewayProxy(options as never), name);
    });
    it.each([['no options', undefined], ['null', null], ['a number', 5], ['a string', 'http://127.0.0.1:1']])('on %s in place of the options object', (_why, options) => {
      expect(() => adapter.gatewayProxy(options as never)).toThrow(/gateway-errors: `options` must be an object with a `target` or `router`/);
    });
  });

  describe('accepts every documented form and the ends of each range', () => {
    it('gatewayErrors() with no options and with every option set', () => {
      expect(adapter.gatewayErrors()).toBeTypeOf('function');
      expect(adapter.gatewayErrors({})).toBeTypeOf('function');
      const all = adapter.gatewayErrors({
        brand: {
          name: 'Acme',
          logo: '<svg viewBox="0 0 1 1"></svg>',
          colors: { accent: '#1a73e8', background: 'rgb(255, 255, 255)', text: 'black', darkAccent: 'hsl(217 80% 51%)', darkBackground: '#000', darkText: '#fafafa' },
          statusPage: 'https://status.acme.test/',
          support: 'help@acme.test',
          home: '/',
          footer: 'Acme Inc.',
        },
        proxyName: 'edge-1',
        retryAfter: 86_400,
        expose: true,
        keepUpstreamBody: true,
        locales: { 'pt-BR': { statuses: { 503: { title: 'Serviço indisponível' } }, maintenance: { title: 'Em manutenção' } } },
        bodyLimit: 0,
        extraStatuses: [429, 500],
        maintenance: {
          active: false,
          until: new Date('2030-01-01T14:00:00Z'),
          message: 'Upgrading.',
          retryAfter: 86_400,
          allow: ['/healthz', '/status/*', '/'],
          bypass: () => false,
        },
        onMaintenanceStart: () => undefined,
        onMaintenanceStop: () => undefined,
        onMaintenanceAnswer: () => undefined,
        logger: { info: () => undefined, warn: () => undefined },
      });
      expect(all).toBeTypeOf('function');
      expect(all.maintenance.state()).toEqual({ active: false });
      expect(adapter.gatewayErrors({ maintenance: { until: '2020-01-01T00:00:00Z', active: true } }).maintenance.state().active).toBe(true);
      expect(adapter.gatewayErrors({ retryAfter: 0 })).toBeTypeOf('function');
    });

    it('gatewayProxy() with every retry form and the range ends', () => {
      const ok = (o: Record<string, unknown>) => expect(adapter.gatewayProxy({ target: TARGET, ...o } as never)).toBeTypeOf('function');
      ok({});
      ok({ retry: false });
      ok({ retry: {} });
      ok({ retry: () => false });
      ok({
        retry: {
          retries: 100,
          methods: [],
          idempotencyKey: false,
          statuses: [429, 503],
          baseDelay: 0,
          maxDelay: MAX_TIMER,
          maxRetryAfter: 0,
          bodyLimit: 0,
        },
      });
      ok({ retry: { retries: 0, idempotencyKey: 'X-Idempotency-Key' } });
      ok({ connectTimeout: 0, responseTimeout: MAX_TIMER, onRetry: () => undefined, onGiveUp: () => undefined });
      ok({ proxyTimeout: 1000 });
      ok({ deadline: 0, idleTimeout: 0, maxConcurrent: 10, budget: false, circuit: false, logger: console });
      ok({ budget: { ratio: 0, minPerSecond: 0, window: 3_600_000 }, circuit: { consecutiveFailures: 1, failureRate: 0.999, window: 1000, minimumRps: 1, halfOpenAfter: 0 } });
      ok({ onCircuitOpen: () => undefined, onCircuitClose: () => undefined });
      ok({ errors: { proxyName: 'edge', retryAfter: 5 } });
    });
  });
});

/**
 * Once gaps, now closed: `null` is a value, not "use the default" (only `undefined` is), and
 * options inside `errors` are named with their `errors.` prefix.
 */
forEachAdapter('null values and nested names in the option checks of $name', ({ api: adapter }) => {
  const proxy = (o: Record<string, unknown>) => () => adapter.gatewayProxy({ target: TARGET, ...o } as never);
  it('rejects retry: null instead of taking it as the default policy', () => {
    expectOptionError(proxy({ retry: null }), 'retry');
  });
  it('rejects a null retry.retries', () => {
    expectOptionError(proxy({ retry: { retries: null } }), 'retry.retries');
  });
  it('rejects a null connectTimeout', () => {
    expectOptionError(proxy({ connectTimeout: null }), 'connectTimeout');
  });
  it('rejects errors: null', () => {
    expectOptionError(proxy({ errors: null }), 'errors');
  });
  it('rejects a null proxyName', () => {
    expectOptionError(() => adapter.gatewayErrors({ proxyName: null } as never), 'options.proxyName');
  });
  it('rejects a null retryAfter', () => {
    expectOptionError(() => adapter.gatewayErrors({ retryAfter: null } as never), 'options.retryAfter');
  });
  it('names errors.brand.name, not brand.name, for a bad brand inside errors', () => {
    expectOptionError(proxy({ errors: { brand: { name: 5 } } }), 'errors.brand.name');
  });
  it('names errors.locales, not locales, for bad locales inside errors', () => {
    expectOptionError(proxy({ errors: { locales: 5 } }), 'errors.locales');
  });
  it('rejects a target that is neither a URL string, a URL nor an object', () => {
    expectOptionError(proxy({ target: 5 }), 'target');
  });
});

forEachAdapter('the per-route function form of retry on $name', ({ mount }) => {
  it.each<[string, unknown, string]>([
    ['a negative retries', { retries: -1 }, '`retry(req).retries`'],
    ['statuses as strings', { statuses: ['503'] }, '`retry(req).statuses`'],
  ])('reports a bad policy returned for a request (%s) as a TypeError naming retry(req), and a 500', async (_why, policy, named) => {
    const app = await mount({ errors: false, proxy: { target: TARGET, retry: () => policy } });
    try {
      const res = await fetch(`${app.url}/x`);
      await res.arrayBuffer();
      expect(res.status).toBe(500);
      expect(app.errors).toHaveLength(1);
      expect(app.errors[0]).toBeInstanceOf(TypeError);
      expect((app.errors[0] as Error).message).toContain(named);
    } finally {
      await app.close();
    }
  });
});
