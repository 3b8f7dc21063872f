/**
 * The view model: what every template receives as `it`, made from the error's view and the
 * messages of its language (times and the retry sentence in that language).
 */
import { interpolate, type Messages, type StatusMessages } from './i18n.js';
import type { Brand, ErrorView } from '../types.js';

/**
 * What every template receives as `it`. Documented field by field in templates/README.md.
 */
export interface TemplateData extends ErrorView {
  /** The validated brand (its `logo` is always safe for `<img src>`). */
  brand: Brand;
  /** `brand.name`, or the localized "This site". */
  brandName: string;
  /** All messages of the page's language. */
  t: Messages;
  /** `t.statuses[status]`: title, detail and headline for this status. */
  statusMessages: StatusMessages;
  /** The time of the error, formatted for the page's language (UTC). */
  timeText: string;
  /** ISO 8601 time from which a retry makes sense; present when `retryAfter` is. */
  retryAt?: string;
  /** The localized "try again in ..." sentence; present when `retryAfter` is. */
  retryText?: string;
  /** Seconds for `<meta http-equiv="refresh">`; present when the page should reload itself. */
  refresh?: number;
  /** `interpolate(template, values)`, for custom strings with `{placeholders}`. */
  fmt: typeof interpolate;
  /** Maintenance only: the announced end in the page's language, UTC (the page's script shows it in the visitor's zone). */
  untilText?: string;
  /** Maintenance only: the announced end has passed and the site is still down. */
  overrun?: boolean;
}

// A meta refresh at 0 s against a still-failing upstream would reload in a tight loop.
const MIN_REFRESH = 5;
// Beyond two minutes "in 300 seconds" reads badly; switch to minutes.
const MINUTES_FROM = 120;

const timeFormats = new Map<string, Intl.DateTimeFormat | null>();

/** "3 Jun 2025, 14:05:09 UTC" in the page's language; the ISO string when Intl cannot. */
function formatTime(iso: string, lang: string): string {
  let format = timeFormats.get(lang);
  if (format === undefined) {
    try {
      format = new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'long', timeZone: 'UTC' });
    } catch {
      format = null;
    }
    if (timeFormats.size < 100) timeFormats.set(lang, format);
  }
  // The page shows whole seconds: during an outage most answers of one second share the text.
  const second = iso.slice(0, 19);
  const last = lastTimes.get(lang);
  if (last !== undefined && last.second === second) return last.text;
  const date = new Date(iso);
  const text = format && !Number.isNaN(date.getTime()) ? format.format(date) : iso;
  if (lastTimes.size < 100 || lastTimes.has(lang)) lastTimes.set(lang, { second, text });
  return text;
}

const lastTimes = new Map<string, { second: string; text: string }>();

/**
 * The options the page's inline script formats `<time data-local>` with, in the visitor's time
 * zone; the server uses the same in UTC, so the text only changes zone, not shape.
 */
const UNTIL_FORMAT: Intl.DateTimeFormatOptions = { year: 'numeric', month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit', timeZoneName: 'short' };
const untilFormats = new Map<string, Intl.DateTimeFormat | null>();

/** "Dec 7, 2026, 2:00 PM UTC" in the page's language; the ISO string when Intl cannot. */
function formatUntil(iso: string, lang: string): string {
  let format = untilFormats.get(lang);
  if (format === undefined) {
    try {
      format = new Intl.DateTimeFormat(lang, { ...UNTIL_FORMAT, timeZone: 'UTC' });
    } catch {
      format = null;
    }
    if (untilFormats.size < 100) untilFormats.set(lang, format);
  }
  const date = new Date(iso);
  return format && !Number.isNaN(date.getTime()) ? format.format(date) : iso;
}

function retrySentence(seconds: number, t: Messages): string {
  if (seconds <= 1) return t.retryNow;
  if (seconds < MINUTES_FROM) return interpolate(t.retryIn, { seconds });
  return interpolate(t.retryInMinutes, { minutes: Math.ceil(seconds / 60) });
}

export function viewModel(view: ErrorView, messages: Messages, brand: Brand): TemplateData {
  const statusMessages = view.maintenance ? messages.maintenance : messages.statuses[String(view.status) as keyof Messages['statuses']];
  if (!statusMessages) throw new TypeError(`No messages for status ${String(view.status)}`);
  const data: TemplateData = {
    ...view,
    lang: view.lang || messages.lang,
    brand,
    brandName: brand.name ?? messages.defaultBrandName,
    t: messages,
    statusMessages,
    timeText: formatTime(view.time, view.lang || messages.lang),
    fmt: interpolate,
  };
  if (view.maintenance?.until !== undefined) {
    data.untilText = formatUntil(view.maintenance.until, data.lang);
    data.overrun = Date.parse(view.maintenance.until) <= Date.parse(view.time);
  }
  if (view.retryAfter !== undefined && Number.isFinite(view.retryAfter) && view.retryAfter >= 0) {
    const base = Date.parse(view.time);
    if (!Number.isNaN(base)) data.retryAt = new Date(base + view.retryAfter * 1000).toISOString();
    data.retryText = retrySentence(view.retryAfter, messages);
    // A refresh repeats the page as a GET: right after an idempotent GET, wrong after anything
    // else (after a PUT it would not repeat the PUT; after a POST it must not pretend to).
    if (view.idempotent && (view.method === 'GET' || view.method === 'HEAD')) {
      data.refresh = Math.max(MIN_REFRESH, Math.ceil(view.retryAfter));
    }
  }
  return data;
}
