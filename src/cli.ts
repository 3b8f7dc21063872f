#!/usr/bin/env node
/**
 * `gateway-errors export`: the same branded pages as static files, for when the gateway process
 * itself is what failed — nginx `error_page`, a CDN's or a load balancer's custom error pages.
 */
import { mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { validateBrand } from './core/answer/brand.js';
import { createCatalog } from './core/answer/i18n.js';
import { problemOf, represent } from './core/answer/formats.js';
import { createRenderer } from './core/answer/render.js';
import { MAX_RETRY_AFTER } from './core/decide/retry-after.js';
import { EXTRA_STATUSES, GATEWAY_DEFAULTS } from './core/defaults.js';
import { checkMessage, checkUntil } from './core/normalize-gateway.js';
import { checkCount, fail } from './core/validate.js';
import type { BrandedStatus, ErrorView, ExtraStatus, GatewayStatus } from './core/types.js';

const USAGE = `Usage: gateway-errors export --out <dir> [options]

Writes 502.html 503.html 504.html and maintenance.html (the planned-maintenance 503), their
application/problem+json twins 502.json 503.json 504.json maintenance.json, and headers.json
(the headers each file must be served with, including the Content-Security-Policy that its
inline style and script are hashed into).

Options:
  --out <dir>            directory to write to (created if missing)        required
  --brand <file.json>    the brand option as JSON: name, logo, colors, statusPage, ...
  --templates <dir>      template overrides, as the templates option
  --locales <file.json>  added or changed messages, as the locales option
  --lang <tag>           language of the pages                              default: en
  --retry-after <s>      seconds to advertise on 503 (the page then reloads itself)
  --request-id <text>    shown as the reference: a placeholder your server fills in
                         per request (nginx: sub_filter ... $request_id); default: none
  --time <text>          shown as the time, likewise (nginx: $time_iso8601); default: none
  --extra-statuses <list> also write these pages, as the extraStatuses option: 429,500
  --until <date>         maintenance.html: the announced end (ISO 8601), shown in the
                         visitor's time zone                              default: none
  --message <text>       maintenance.html: your own words, plain text      default: none
  -h, --help             show this help
`;

const STATUSES: readonly GatewayStatus[] = [502, 503, 504];

export interface ExportOptions {
  out: string;
  /** Parsed `brand` option. */
  brand?: unknown;
  templates?: string;
  /** Parsed `locales` option. */
  locales?: Record<string, unknown>;
  /** @default 'en' */
  lang?: string;
  /** Seconds advertised on the 503 page. */
  retryAfter?: number;
  /** Text shown as the reference; the row is left out when absent. */
  requestId?: string;
  /** Text shown as the time; the row is left out when absent. */
  time?: string;
  /** Also write these statuses' pages, as the `extraStatuses` option. */
  extraStatuses?: readonly number[];
  /** maintenance.html: the announced end, a Date or an ISO 8601 string. */
  until?: Date | string;
  /** maintenance.html: the operator's own words. */
  message?: string;
}

/** Write the pages. Throws (TypeError for bad options) before writing anything. */
export function exportPages(options: ExportOptions): string[] {
  const brand = validateBrand(options.brand);
  const catalog = createCatalog(options.locales);
  const lang = options.lang ?? 'en';
  const known = catalog.languages.find((l) => l.toLowerCase() === lang.toLowerCase());
  if (!known) fail('--lang', `one of ${catalog.languages.join(', ')}`, lang);
  if (options.retryAfter !== undefined) checkCount('--retry-after', options.retryAfter, MAX_RETRY_AFTER);
  const extra = options.extraStatuses ?? [];
  if (!extra.every((s) => (EXTRA_STATUSES as readonly number[]).includes(s))) fail('--extra-statuses', `a list of statuses from ${EXTRA_STATUSES.join(', ')}`, extra);
  const until = options.until === undefined ? undefined : checkUntil('--until', options.until);
  if (options.message !== undefined) checkMessage('--message', options.message);
  // A static file must never silently ship the plain fallback page: fail the export instead.
  let failure: unknown;
  const renderer = createRenderer({
    brand,
    ...(options.templates !== undefined && { templates: options.templates }),
    onTemplateError: (error) => {
      failure ??= error;
    },
  });
  const messages = catalog.get(known);

  const files = new Map<string, string>();
  const headers: Record<string, Record<string, string>> = {};
  const pages: { name: string; status: BrandedStatus; maintenance: boolean }[] = [
    ...[...STATUSES, ...(extra as ExtraStatus[])].map((status) => ({ name: `${status}`, status, maintenance: false })),
    { name: 'maintenance', status: 503, maintenance: true },
  ];
  for (const { name, status, maintenance } of pages) {
    const words = maintenance ? messages.maintenance : messages.statuses[`${status}`];
    // Search engines ask for a Retry-After on a maintenance 503; a file cannot count down, so a
    // fixed value: the page reloads by itself and finds the site back.
    const retryAfter = maintenance ? (options.retryAfter ?? GATEWAY_DEFAULTS.retryAfter) : status === 503 ? options.retryAfter : undefined;
    const view: ErrorView = {
      status,
      title: words.title,
      detail: words.detail,
      ...(retryAfter !== undefined && { retryAfter }),
      ...(maintenance && {
        maintenance: {
          ...(until !== undefined && { until: new Date(until).toISOString() }),
          ...(options.message !== undefined && options.message !== '' && { message: options.message }),
        },
      }),
      requestId: options.requestId ?? '',
      time: options.time ?? '',
      brand,
      // The method is unknown to a static page; browsers show error pages for navigations,
      // which are GETs.
      method: 'GET',
      idempotent: true,
      lang: messages.lang,
    };
    for (const format of ['html', 'json'] as const) {
      const { headers: own, text } = represent(format, view, messages, renderer);
      if (failure !== undefined) {
        throw new Error(`gateway-errors: the ${name} template failed: ${String(failure)}`, { cause: failure });
      }
      // The same answer the middleware gives, read by people: the JSON indented.
      files.set(`${name}.${format}`, format === 'json' ? `${JSON.stringify(problemOf(view), null, 2)}\n` : text);
      headers[`${name}.${format}`] = Object.fromEntries(Object.entries(own).map(([k, v]) => [titleCase(k), v]));
    }
  }
  files.set('headers.json', `${JSON.stringify(headers, null, 2)}\n`);

  mkdirSync(options.out, { recursive: true });
  const written: string[] = [];
  for (const [name, content] of files) {
    const file = path.join(options.out, name);
    writeFileSync(file, content);
    written.push(file);
  }
  return written;
}

/** `content-security-policy` -> `Content-Security-Policy`, as server configurations spell them. */
function titleCase(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_, dash: string, c: string) => dash + c.toUpperCase());
}

function readJson(file: string, flag: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new Error(`Cannot read ${flag} file ${file}: ${(cause as Error).message}`, { cause });
  }
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new Error(`${flag} file ${file} is not valid JSON: ${(cause as Error).message}`, { cause });
  }
}

interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

/** The command line. Returns the exit code instead of exiting, so tests can call it. */
export function main(argv: readonly string[], io: Io = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) }): number {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        out: { type: 'string' },
        brand: { type: 'string' },
        templates: { type: 'string' },
        locales: { type: 'string' },
        lang: { type: 'string' },
        'retry-after': { type: 'string' },
        'request-id': { type: 'string' },
        time: { type: 'string' },
        'extra-statuses': { type: 'string' },
        until: { type: 'string' },
        message: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    io.err(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.out(USAGE);
    return 0;
  }
  if (positionals[0] !== 'export' || positionals.length > 1) {
    io.err(`${positionals.length ? `Unknown command '${positionals.join(' ')}'.` : 'Missing command.'}\n\n${USAGE}`);
    return 2;
  }
  if (!values.out) {
    io.err(`Missing --out <dir>.\n\n${USAGE}`);
    return 2;
  }
  try {
    const retryAfter = values['retry-after'];
    const written = exportPages({
      out: values.out,
      ...(values.brand !== undefined && { brand: readJson(values.brand, '--brand') }),
      ...(values.templates !== undefined && { templates: values.templates }),
      ...(values.locales !== undefined && { locales: readJson(values.locales, '--locales') as Record<string, unknown> }),
      ...(values.lang !== undefined && { lang: values.lang }),
      ...(retryAfter !== undefined && { retryAfter: /^\d+$/.test(retryAfter) ? Number(retryAfter) : Number.NaN }),
      ...(values['request-id'] !== undefined && { requestId: values['request-id'] }),
      ...(values.time !== undefined && { time: values.time }),
      ...(values['extra-statuses'] !== undefined && { extraStatuses: values['extra-statuses'].split(',').map((v) => (/^\s*\d+\s*$/.test(v) ? Number(v) : Number.NaN)) }),
      ...(values.until !== undefined && { until: values.until }),
      ...(values.message !== undefined && { message: values.message }),
    });
    io.out(`${written.map((file) => `wrote ${file}`).join('\n')}\n`);
    return 0;
  } catch (error) {
    io.err(`gateway-errors export: ${(error as Error).message.replace(/^gateway-errors: /, '')}\n`);
    return 1;
  }
}

// Run only as a program (npm links bin files, hence the realpath), not when imported by tests.
const invoked = process.argv[1];
if (invoked !== undefined) {
  let self = false;
  try {
    self = pathToFileURL(realpathSync(invoked)).href === import.meta.url;
  } catch {
    self = false;
  }
  if (self) process.exitCode = main(process.argv.slice(2));
}
