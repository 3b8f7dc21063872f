import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createMaintenance } from '../../src/core/answer/maintenance.js';
import { normalizeGateway, type GatewayErrorsOptions } from '../../src/core/options.js';
import { createResponder } from '../../src/core/answer/respond.js';

const maintenance = (options: GatewayErrorsOptions<{ staff?: boolean }> = {}) =>
  createMaintenance<{ staff?: boolean }>(normalizeGateway(options as GatewayErrorsOptions<never>));

afterEach(() => {
  vi.useRealTimers();
});

describe('the maintenance switch', () => {
  it('lets everything through while off', () => {
    const m = maintenance();
    expect(m.check('/anything', {})).toBeUndefined();
  });

  it('counts Retry-After down to the end, rounded up, and clamps it to one day', () => {
    vi.useFakeTimers({ now: Date.parse('2026-12-07T12:00:00.000Z') });
    const m = maintenance();
    m.switch.start({ until: '2026-12-07T12:00:10.001Z' });
    expect(m.check('/', {})?.retryAfter).toBe(11);
    vi.setSystemTime(Date.parse('2026-12-07T12:00:10.000Z'));
    expect(m.check('/', {})?.retryAfter).toBe(1);
    m.switch.start({ until: new Date('2026-12-10T12:00:00Z') });
    expect(m.check('/', {})?.retryAfter).toBe(86_400);
    m.switch.start({ until: '2026-12-07T14:00:00Z', retryAfter: 300 });
    expect(m.check('/', {})?.retryAfter).toBe(300); // a configured value wins over the countdown
  });

  it('falls back to the retryAfter option when no end is announced or the end has passed', () => {
    vi.useFakeTimers({ now: Date.parse('2026-12-07T12:00:00.000Z') });
    const m = createMaintenance(normalizeGateway({ retryAfter: 45 }));
    m.switch.start();
    expect(m.check('/', {})?.retryAfter).toBe(45);
    m.switch.start({ until: '2026-12-07T11:00:00Z' });
    expect(m.check('/', {})).toMatchObject({ retryAfter: 45, until: Date.parse('2026-12-07T11:00:00Z') });
    expect(m.switch.state()).toMatchObject({ active: true, until: '2026-12-07T11:00:00.000Z', retryAfter: 45 });
  });

  it.each([
    ['/healthz', true],
    ['/healthz?full=1', true],
    ['/healthz/', false],
    ['/healthzz', false],
    ['/status', true],
    ['/status/', true],
    ['/status/api/v1', true],
    ['/statuses', false],
    ['/status/../admin', false],
    ['/status/./x', false],
    ['/status/%2e%2e/admin', false],
    ['/status/..%2Fadmin', false],
    ['/status//x', false],
    ['/status\\..\\admin', false],
    ['/shop', false],
  ])('allow-list: %s goes through: %s', (path, through) => {
    const m = maintenance({ maintenance: { active: true, allow: ['/healthz', '/status/*'] } });
    expect(m.check(path, {}) === undefined).toBe(through);
  });

  it('lets a bypassed request through; a predicate that throws counts as false, with one warning', () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      const m = maintenance({
        maintenance: {
          active: true,
          bypass: (r) => {
            if (r.staff === undefined) throw new Error('no session');
            return r.staff;
          },
        },
      });
      expect(m.check('/', { staff: true })).toBeUndefined();
      expect(m.check('/', { staff: false })).toBeDefined();
      expect(m.check('/', {})).toBeDefined();
      expect(m.check('/', {})).toBeDefined();
      expect(warn).toHaveBeenCalledTimes(1);
    } finally {
      warn.mockRestore();
    }
  });

  it('keeps `since` when the window changes while on, and reports the change', () => {
    vi.useFakeTimers({ now: Date.parse('2026-12-07T12:00:00.000Z') });
    const starts: unknown[] = [];
    const m = maintenance({ onMaintenanceStart: (e) => starts.push(e) });
    m.switch.start({ message: 'first' });
    vi.setSystemTime(Date.parse('2026-12-07T12:05:00.000Z'));
    const state = m.switch.start({ until: '2026-12-07T13:00:00Z' });
    expect(state).toEqual({ active: true, since: '2026-12-07T12:00:00.000Z', until: '2026-12-07T13:00:00.000Z', retryAfter: 3300 });
    expect(starts).toEqual([
      { since: '2026-12-07T12:00:00.000Z', message: 'first' },
      { since: '2026-12-07T12:00:00.000Z', until: '2026-12-07T13:00:00.000Z' },
    ]);
  });
});

describe('the maintenance switch, table of windows', () => {
  const NOW = Date.parse('2026-12-07T12:00:00.000Z');

  it.each<[string, Parameters<ReturnType<typeof maintenance>['switch']['start']>[0], object, object]>([
    ['no window', undefined, { active: true, since: '2026-12-07T12:00:00.000Z', retryAfter: 30 }, { retryAfter: 30 }],
    ['an empty message is no message', { message: '' }, { active: true, since: '2026-12-07T12:00:00.000Z', retryAfter: 30 }, { retryAfter: 30 }],
    ['an end as a string', { until: '2026-12-07T12:01:00Z' }, { active: true, since: '2026-12-07T12:00:00.000Z', until: '2026-12-07T12:01:00.000Z', retryAfter: 60 }, { until: NOW + 60_000, retryAfter: 60 }],
    ['an end as a Date', { until: new Date(NOW + 1) }, { active: true, since: '2026-12-07T12:00:00.000Z', until: '2026-12-07T12:00:00.001Z', retryAfter: 1 }, { until: NOW + 1, retryAfter: 1 }],
    ['an end exactly now: overrun, the fallback', { until: new Date(NOW) }, { active: true, since: '2026-12-07T12:00:00.000Z', until: '2026-12-07T12:00:00.000Z', retryAfter: 30 }, { until: NOW, retryAfter: 30 }],
    ['a message and retryAfter 0', { message: 'Upgrading the database', retryAfter: 0 }, { active: true, since: '2026-12-07T12:00:00.000Z', message: 'Upgrading the database', retryAfter: 0 }, { message: 'Upgrading the database', retryAfter: 0 }],
    ['retryAfter at its limit', { retryAfter: 86_400 }, { active: true, since: '2026-12-07T12:00:00.000Z', retryAfter: 86_400 }, { retryAfter: 86_400 }],
  ])('start(%s): state and the window each request gets', (_name, window, state, check) => {
    vi.useFakeTimers({ now: NOW });
    const m = maintenance();
    expect(m.switch.start(window)).toEqual(state);
    expect(m.switch.state()).toEqual(state);
    expect(m.check('/x?y=1', {})).toEqual(check);
  });

  it.each<[string, unknown, string]>([
    ['a window that is not an object', 'tonight', '`maintenance.start()`'],
    ['an unknown key', { untill: '2026-12-07T13:00:00Z' }, '`maintenance.start().untill`'],
    ['an end that is no date', { until: 'tonight' }, '`maintenance.start().until`'],
    ['an end as a number', { until: NOW }, '`maintenance.start().until`'],
    ['a message that is not a string', { message: 42 }, '`maintenance.start().message`'],
    ['a message over 500 characters', { message: 'x'.repeat(501) }, '`maintenance.start().message`'],
    ['a negative retryAfter', { retryAfter: -1 }, '`maintenance.start().retryAfter`'],
    ['retryAfter over a day', { retryAfter: 86_401 }, '`maintenance.start().retryAfter`'],
  ])('start() with %s throws a TypeError naming %s, and stays off', (_name, window, option) => {
    const m = maintenance();
    expect(() => m.switch.start(window as never)).toThrow(TypeError);
    expect(() => m.switch.start(window as never)).toThrow(option);
    expect(m.switch.state()).toEqual({ active: false });
    expect(m.check('/', {})).toBeUndefined();
  });

  it.each<[string, (m: ReturnType<typeof maintenance>) => void, boolean, object]>([
    ['stop() while off', () => undefined, false, { active: false }],
    ['stop() while on', (m) => void m.switch.start(), true, { active: false }],
    ['stop() twice', (m) => void (m.switch.start(), m.switch.stop()), false, { active: false }],
  ])('%s', (_name, before, wasOn, state) => {
    const m = maintenance();
    before(m);
    expect(m.switch.stop()).toBe(wasOn);
    expect(m.switch.state()).toEqual(state);
    expect(m.check('/', {})).toBeUndefined();
  });

  it('reports a stop with its duration and each answer with its path, without the query', () => {
    vi.useFakeTimers({ now: NOW });
    const events: unknown[] = [];
    const m = maintenance({ onMaintenanceStop: (e) => events.push(['stop', e]), onMaintenanceAnswer: (e) => events.push(['answer', e]) });
    m.switch.start();
    m.answered(undefined, undefined, 30);
    m.answered('POST', '/cart?id=1', 30);
    vi.setSystemTime(NOW + 90_000);
    m.switch.stop();
    expect(events).toEqual([
      ['answer', { method: 'GET', path: '/', retryAfter: 30 }],
      ['answer', { method: 'POST', path: '/cart', retryAfter: 30 }],
      ['stop', { since: '2026-12-07T12:00:00.000Z', duration: 90_000 }],
    ]);
  });
});

describe('the maintenance page', () => {
  const facts = { method: 'GET', headers: { accept: 'text/html' }, idempotent: true };

  it('draws its own illustration state and localises the end with a hashed inline script', () => {
    const responder = createResponder();
    const until = Date.now() + 3_600_000;
    const reply = responder.maintenanceReply({ until, message: 'a <b>bold</b> plan', retryAfter: 3600 }, facts);
    expect(reply.status).toBe(503);
    expect(reply.headers['proxy-status']).toBeUndefined();
    expect(reply.body).toContain(`<time datetime="${new Date(until).toISOString()}" data-local>`);
    expect(reply.body).toContain('<p class="note">a &lt;b&gt;bold&lt;/b&gt; plan</p>');
    expect(reply.body).not.toContain('class="spin"'); // the fan is switched off, not overwhelmed
    expect(reply.body).toContain('Intl.DateTimeFormat(document.documentElement.lang');
    const scripts = reply.headers['content-security-policy']!.match(/script-src ([^;]+)/)![1]!.split(' ');
    expect(scripts).toHaveLength(2); // the countdown and the time
  });

  it('renders maintenance.eta from the templates directory, and else the 503 templates', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ge-maint-'));
    try {
      writeFileSync(join(dir, '503.eta'), '<p>own 503</p>');
      const without = createResponder({ templates: dir });
      expect(without.maintenanceReply({ retryAfter: 30 }, facts).body).toBe('<p>own 503</p>');
      writeFileSync(join(dir, 'maintenance.eta'), '<p>back <%= it.maintenance.until %>: <%= it.statusMessages.headline %></p>');
      const own = createResponder({ templates: dir });
      expect(own.maintenanceReply({ until: Date.parse('2030-01-01T00:00:00Z'), retryAfter: 30 }, facts).body).toBe(
        '<p>back 2030-01-01T00:00:00.000Z: We are doing some planned maintenance</p>',
      );
      // A real outage keeps its own page.
      expect(own.reply({ status: 503, retryable: false }, facts).body).toBe('<p>own 503</p>');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
