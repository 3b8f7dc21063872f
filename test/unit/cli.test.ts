import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import { BUILTIN_LOCALES } from '../../src/core/answer/i18n.js';

const run = promisify(execFile);
const CLI = path.resolve('src/cli.ts');

const dirs: string[] = [];
function tmp(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'ge-cli-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function capture() {
  const io = { stdout: '', stderr: '' };
  return { io, sink: { out: (t: string) => void (io.stdout += t), err: (t: string) => void (io.stderr += t) } };
}

describe('gateway-errors export', () => {
  it('writes branded pages, problem+json twins and their headers as a real process', async () => {
    const dir = tmp();
    const out = path.join(dir, 'pages');
    const brand = path.join(dir, 'brand.json');
    writeFileSync(brand, JSON.stringify({ name: 'Acme <GmbH>', support: 'help@acme.test' }));
    const { stdout } = await run(process.execPath, [
      '--import', 'tsx', CLI, 'export', '--out', out, '--brand', brand, '--lang', 'de',
      '--retry-after', '30', '--request-id', '__REQUEST_ID__',
    ]);
    expect(stdout).toContain(path.join(out, '503.html'));
    expect(readdirSync(out).sort()).toEqual(
      ['502.html', '502.json', '503.html', '503.json', '504.html', '504.json', 'headers.json', 'maintenance.html', 'maintenance.json'],
    );

    const de = BUILTIN_LOCALES.de!;
    const html = readFileSync(path.join(out, '503.html'), 'utf8');
    expect(html).toContain('<html lang="de">');
    expect(html).toContain(`<h1>${de.statuses['503'].headline}</h1>`);
    expect(html).toContain('Acme &lt;GmbH&gt;');
    expect(html).toContain('mailto:help@acme.test');
    expect(html).toContain('<code>__REQUEST_ID__</code>');
    expect(html).toContain('data-countdown="30"');

    const problem = JSON.parse(readFileSync(path.join(out, '503.json'), 'utf8'));
    expect(problem).toEqual({
      type: 'about:blank',
      title: 'Service Unavailable',
      status: 503,
      detail: de.statuses['503'].detail,
      requestId: '__REQUEST_ID__',
      retryAfter: 30,
    });
    expect(JSON.parse(readFileSync(path.join(out, '502.json'), 'utf8'))).toMatchObject({ status: 502, title: 'Bad Gateway' });

    const headers = JSON.parse(readFileSync(path.join(out, 'headers.json'), 'utf8'));
    for (const status of [502, 503, 504]) {
      const page = readFileSync(path.join(out, `${status}.html`), 'utf8');
      const style = /<style>([\s\S]*?)<\/style>/.exec(page)![1]!;
      const hash = createHash('sha256').update(style).digest('base64');
      expect(headers[`${status}.html`]['Content-Security-Policy']).toContain(`style-src 'sha256-${hash}'`);
      expect(headers[`${status}.json`]['Content-Type']).toBe('application/problem+json; charset=utf-8');
    }
    expect(headers['503.html']['Retry-After']).toBe('30');
    expect(headers['502.html']['Retry-After']).toBeUndefined();
  }, 30_000);

  it('writes the maintenance page with its end and message, and the extra statuses asked for', () => {
    const out = tmp();
    const { io, sink } = capture();
    const code = main(
      ['export', '--out', out, '--extra-statuses', '429,500', '--until', '2030-01-02T14:00:00Z', '--message', 'New checkout <3'],
      sink,
    );
    expect([code, io.stderr]).toEqual([0, '']);
    expect(readdirSync(out).sort()).toEqual([
      '429.html', '429.json', '500.html', '500.json', '502.html', '502.json', '503.html', '503.json', '504.html', '504.json',
      'headers.json', 'maintenance.html', 'maintenance.json',
    ]);
    const html = readFileSync(path.join(out, 'maintenance.html'), 'utf8');
    expect(html).toContain('<h1>We are doing some planned maintenance</h1>');
    expect(html).toContain('<time datetime="2030-01-02T14:00:00.000Z" data-local>');
    expect(html).toContain('<p class="note">New checkout &lt;3</p>');
    expect(JSON.parse(readFileSync(path.join(out, 'maintenance.json'), 'utf8'))).toEqual({
      type: 'about:blank',
      title: 'Service Unavailable',
      status: 503,
      detail: 'The site is down for planned work and will be back soon.',
      retryAfter: 30,
      maintenance: { until: '2030-01-02T14:00:00.000Z', message: 'New checkout <3' },
    });
    const headers = JSON.parse(readFileSync(path.join(out, 'headers.json'), 'utf8'));
    expect(headers['maintenance.html']['Retry-After']).toBe('30');
    // The inline script that shows the end in the visitor's zone is hashed into the policy.
    const script = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]!).find((s) => s.includes('Intl.DateTimeFormat'))!;
    expect(headers['maintenance.html']['Content-Security-Policy']).toContain(`'sha256-${createHash('sha256').update(script).digest('base64')}'`);
    expect(readFileSync(path.join(out, '429.html'), 'utf8')).toContain('<h1>Please slow down a little</h1>');
    expect(JSON.parse(readFileSync(path.join(out, '500.json'), 'utf8'))).toMatchObject({ status: 500, title: 'Internal Server Error' });
    expect(headers['429.html']['Retry-After']).toBeUndefined();
  });

  it.each([
    [['--extra-statuses', '404'], '--extra-statuses'],
    [['--until', 'at two'], '--until'],
  ])('refuses %j before writing anything', (args, flag) => {
    const out = path.join(tmp(), 'pages');
    const { io, sink } = capture();
    expect(main(['export', '--out', out, ...args], sink)).toBe(1);
    expect(io.stderr).toContain(flag);
    expect(existsSync(out)).toBe(false);
  });

  it('leaves out the reference and time rows a static page cannot know', () => {
    const out = tmp();
    const { sink } = capture();
    expect(main(['export', '--out', out], sink)).toBe(0);
    const html = readFileSync(path.join(out, '502.html'), 'utf8');
    expect(html).not.toContain(BUILTIN_LOCALES.en!.reference);
    expect(html).not.toContain('<time');
    expect(html).toContain('<dd>502 Bad gateway</dd>');
    expect(JSON.parse(readFileSync(path.join(out, '502.json'), 'utf8'))).not.toHaveProperty('requestId');
  });

  it('fails naming a bad brand option, before writing anything', () => {
    const dir = tmp();
    const out = path.join(dir, 'pages');
    writeFileSync(path.join(dir, 'brand.json'), JSON.stringify({ colors: { accent: 'red;}' } }));
    const { io, sink } = capture();
    expect(main(['export', '--out', out, '--brand', path.join(dir, 'brand.json')], sink)).toBe(1);
    expect(io.stderr).toContain('`brand.colors.accent`');
    expect(existsSync(out)).toBe(false);
  });

  it('fails on unreadable or invalid JSON, an unknown language and a bad --retry-after', () => {
    const dir = tmp();
    writeFileSync(path.join(dir, 'bad.json'), '{ name: Acme }');
    const cases: [string[], RegExp][] = [
      [['--brand', path.join(dir, 'missing.json')], /Cannot read --brand file/],
      [['--brand', path.join(dir, 'bad.json')], /not valid JSON/],
      [['--lang', 'tlh'], /`--lang` must be one of en, es, de, fr, ja, got "tlh"/],
      [['--retry-after', '1.5'], /--retry-after/],
    ];
    for (const [args, message] of cases) {
      const { io, sink } = capture();
      expect(main(['export', '--out', path.join(dir, 'out'), ...args], sink), args.join(' ')).toBe(1);
      expect(io.stderr).toMatch(message);
    }
  });

  it('fails instead of shipping the fallback page when a template throws', () => {
    const dir = tmp();
    writeFileSync(path.join(dir, '504.eta'), '<%= it.nope.deep %>');
    const { io, sink } = capture();
    expect(main(['export', '--out', path.join(dir, 'out'), '--templates', dir], sink)).toBe(1);
    expect(io.stderr).toContain('the 504 template failed');
  });

  it('exports an added language from --locales', () => {
    const dir = tmp();
    writeFileSync(path.join(dir, 'locales.json'), JSON.stringify({ 'pt-BR': { statuses: { '502': { headline: 'Algo deu errado' } } } }));
    const { sink } = capture();
    expect(main(['export', '--out', path.join(dir, 'out'), '--locales', path.join(dir, 'locales.json'), '--lang', 'pt-br'], sink)).toBe(0);
    const html = readFileSync(path.join(dir, 'out', '502.html'), 'utf8');
    expect(html).toContain('<html lang="pt-BR">');
    expect(html).toContain('<h1>Algo deu errado</h1>');
  });

  it('prints usage for --help (0) and for a wrong command line (2)', () => {
    const help = capture();
    expect(main(['--help'], help.sink)).toBe(0);
    expect(help.io.stdout).toContain('Usage: gateway-errors export --out <dir>');
    for (const argv of [[], ['export'], ['publish', '--out', 'x'], ['export', '--out', 'x', '--colour', 'red']]) {
      const { io, sink } = capture();
      expect(main(argv, sink), argv.join(' ')).toBe(2);
      expect(io.stderr).toContain('Usage:');
    }
  });
});
