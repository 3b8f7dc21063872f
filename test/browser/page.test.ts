/**
 * The built-in page in a real browser: Debian's headless Chromium driven by playwright-core
 * (which never downloads a browser of its own). Proves what unit tests cannot: the page obeys
 * the CSP it is sent with (violations surface as console errors), loads nothing but itself, and
 * passes axe-core. Screenshots land in test-artifacts/screenshots/ for a human to look at.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext } from 'playwright-core';
import { createCatalog } from '../../src/core/answer/i18n.js';
import { createRenderer } from '../../src/core/answer/render.js';
import type { BrandedStatus, ErrorView } from '../../src/core/types.js';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = path.resolve('test-artifacts/screenshots');
const present = existsSync(CHROMIUM);

if (!present && !process.env.CI) {
  console.warn(`[browser] skipped: ${CHROMIUM} is absent (apt-get install -y chromium). In CI this test runs.`);
}

const catalog = createCatalog();
const renderer = createRenderer({
  brand: {
    name: 'Acme',
    statusPage: 'https://status.acme.test/',
    support: 'support@acme.test',
    footer: 'Acme Inc. · Made with care, even when it breaks.',
  },
});

/** The announced end of the maintenance scenario: two hours after the test starts. */
const MAINTENANCE_UNTIL = new Date(Date.now() + 2 * 3_600_000);
/** Not UTC, so the page's script visibly moves the end into the visitor's zone. */
const VISITOR_ZONE = 'America/New_York';

/** Scenarios served by path: /<status>/<variant>; /503/maintenance is the planned-maintenance page. */
function viewFor(status: BrandedStatus, variant: string): { view: ErrorView; lang: string } {
  const lang = variant === 'ja' ? 'ja' : 'en';
  const t = catalog.get(lang);
  const post = variant === 'post';
  const maintenance = variant === 'maintenance';
  const words = maintenance ? t.maintenance : t.statuses[`${status}`];
  return {
    lang,
    view: {
      status,
      title: words.title,
      detail: words.detail,
      requestId: '3f2b9c4e-7a1d-4e8f-9b6a-0c5d2e1f4a7b',
      time: '2025-06-03T14:05:09.000Z',
      brand: {},
      method: post ? 'POST' : 'GET',
      idempotent: !post,
      lang,
      // 503 always carries Retry-After; the others only when the upstream sent one.
      ...(status === 503 && { retryAfter: variant === 'soon' ? 1 : 30 }),
      // A rate limit's own Retry-After; maintenance counts down to its end.
      ...(status === 429 && { retryAfter: 30 }),
      ...(maintenance && {
        retryAfter: 7200,
        maintenance: { until: MAINTENANCE_UNTIL.toISOString(), message: 'We are moving to a faster database.' },
      }),
    },
  };
}

let server: Server;
let base: string;
let context: BrowserContext;
let profile: string;
let axeSource: string;

describe.skipIf(!present && !process.env.CI)('error page in headless Chromium', () => {
  beforeAll(async () => {
    if (!present) throw new Error(`${CHROMIUM} is required in CI: apt-get install -y chromium`);
    mkdirSync(SHOTS, { recursive: true });
    axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
    server = createServer((req, res) => {
      const [, status, variant = 'default'] = (req.url ?? '').split('/');
      const code = Number(status);
      if (code !== 502 && code !== 503 && code !== 504 && code !== 429 && code !== 500) {
        res.writeHead(404).end();
        return;
      }
      const { view, lang } = viewFor(code, variant);
      const { html, csp } = renderer.page(view, catalog.get(lang));
      res.writeHead(code, {
        'content-type': 'text/html; charset=utf-8',
        'content-security-policy': csp,
        'x-robots-tag': 'noindex',
        'cache-control': 'no-store',
      });
      res.end(html);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const { chromium } = await import('playwright-core');
    profile = mkdtempSync(path.join(tmpdir(), 'ge-chromium-'));
    // A persistent context is how playwright takes a fresh --user-data-dir.
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      timezoneId: VISITOR_ZONE,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--disable-quic',
      ],
    });
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    await new Promise((resolve) => server?.close(resolve));
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  const cases: [BrandedStatus, 'light' | 'dark', 'desktop' | 'phone', string][] = [];
  for (const [status, variant] of [[502, 'default'], [503, 'default'], [504, 'default'], [503, 'maintenance'], [429, 'default']] as const) {
    for (const scheme of ['light', 'dark'] as const) {
      for (const device of ['desktop', 'phone'] as const) cases.push([status, scheme, device, variant]);
    }
  }
  cases.push([500, 'light', 'desktop', 'default']);
  // Two more looks worth checking by eye: the payment warning, and a non-Latin language.
  cases.push([503, 'light', 'phone', 'post'], [504, 'dark', 'desktop', 'ja']);

  it.each(cases)(
    '%i %s %s (%s): no console errors, no requests but the document, no axe violations',
    async (status, scheme, device, variant) => {
      const page = await context.newPage();
      try {
        const problems: string[] = [];
        const requests: string[] = [];
        page.on('console', (msg) => {
          // Chromium logs every non-2xx document as "Failed to load resource"; an error page is one
          // by design. Anything else (a CSP violation, a script error) counts.
          const ownStatus = msg.location().url === url && /status of (?:50[0234]|429)\b/.test(msg.text());
          if ((msg.type() === 'error' || msg.type() === 'warning') && !ownStatus) problems.push(`${msg.type()}: ${msg.text()}`);
        });
        page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
        page.on('request', (request) => {
          if (!request.url().startsWith('data:')) requests.push(request.url());
        });
        const url = `${base}/${status}/${variant}`;
        await page.setViewportSize(device === 'phone' ? { width: 390, height: 844 } : { width: 1280, height: 900 });
        await page.emulateMedia({ colorScheme: scheme, reducedMotion: 'reduce' });

        const response = await page.goto(url, { waitUntil: 'load' });
        expect(response?.status()).toBe(status);
        await page.screenshot({ path: path.join(SHOTS, `${status}-${variant}-${scheme}-${device}.png`), fullPage: true });

        if ((status === 503 || status === 429) && variant === 'default') {
          // The countdown script ran, so its CSP hash matched.
          await expect.poll(() => page.locator('.countdown').isVisible()).toBe(true);
          expect(await page.locator('[data-countdown]').textContent()).toMatch(/^0:[0-3]\d$/);
        }
        if (variant === 'maintenance') {
          await expect.poll(() => page.locator('.countdown').isVisible()).toBe(true);
          expect(await page.locator('[data-countdown]').textContent()).toMatch(/^1[12]\d:[0-5]\d$/);
          // The end time script ran (its hash matched too): the server's UTC text is now in the
          // visitor's zone, with no request made for it.
          const end = page.locator('time[data-local]');
          await expect.poll(() => end.textContent()).not.toContain('UTC');
          expect(await end.textContent()).toMatch(/EST|EDT|GMT-[45]/);
          expect(await end.getAttribute('datetime')).toBe(MAINTENANCE_UNTIL.toISOString());
          expect(await page.locator('.note').textContent()).toBe('We are moving to a faster database.');
          expect(await page.locator('h1').textContent()).toBe('We are doing some planned maintenance');
        }
        if (variant === 'post') expect(await page.locator('.warn').isVisible()).toBe(true);

        // evaluate() runs through DevTools, outside the page's CSP: the page itself stays strict.
        await page.evaluate(axeSource);
        const violations = await page.evaluate(async () => {
          const axe = (globalThis as unknown as { axe: { run: (c: unknown, o: unknown) => Promise<{ violations: { id: string; help: string; nodes: { target: unknown }[] }[] }> } }).axe;
          const result = await axe.run(document, { resultTypes: ['violations'] });
          return result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => JSON.stringify(n.target)).join(', ')})`);
        });
        expect(violations).toEqual([]);
        expect(problems).toEqual([]);
        expect(requests).toEqual([url]);
      } finally {
        await page.close();
      }
    },
    60_000,
  );

  it('reloads by itself when Retry-After has passed, and not after "Don’t reload"', async () => {
    const page = await context.newPage();
    try {
      const loads: string[] = [];
      page.on('request', (request) => loads.push(request.url()));
      await page.goto(`${base}/503/soon`);
      // Retry-After 1 s becomes a 5 s refresh (never a tight loop).
      await expect.poll(() => loads.length, { timeout: 9_000, interval: 250 }).toBe(2);
      await page.waitForLoadState('load');
      await page.getByRole('button').click();
      await expect.poll(() => page.locator('.countdown').isHidden()).toBe(true);
      await page.waitForTimeout(6_000);
      expect(loads).toHaveLength(2);
    } finally {
      await page.close();
    }
  }, 30_000);

  it('keeps images and text inside the phone width (no horizontal scroll)', async () => {
    const page = await context.newPage();
    try {
      await page.setViewportSize({ width: 390, height: 844 });
      for (const path of ['502/default', '503/default', '504/default', '503/maintenance', '429/default', '500/default']) {
        await page.goto(`${base}/${path}`);
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        expect(overflow, path).toBeLessThanOrEqual(0);
      }
    } finally {
      await page.close();
    }
  }, 60_000);
});
