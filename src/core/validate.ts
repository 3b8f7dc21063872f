/**
 * The one way options are checked, with one message format:
 *
 *   gateway-errors: `retry.baseDelay` must be an integer from 0 to 2147483647, got -1.
 *   gateway-errors: unknown option `stale.maxAge` (known: maxBytes, maxEntryBytes, maxStale, store).
 *
 * The name is the option's path as the user wrote it, so a typo points at its own line.
 */
import type { GatewayLogger } from './hooks.js';

/** Timer values: Node clamps anything above 2^31-1 ms to 1 ms, so they are rejected. */
export const MAX_TIMER = 2_147_483_647;

/** Long values (an inline SVG, a whole object) are cut in the message, never echoed whole. */
const MAX_SHOWN = 80;

function show(value: unknown): string {
  let text: string;
  try {
    text = typeof value === 'string' ? JSON.stringify(value) : Array.isArray(value) ? JSON.stringify(value) : String(value);
  } catch {
    text = Object.prototype.toString.call(value);
  }
  return text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN)}...` : text;
}

/** Throw the TypeError for an option whose value is not what it must be. */
export function fail(name: string, expected: string, value: unknown): never {
  throw new TypeError(`gateway-errors: \`${name}\` must be ${expected}, got ${show(value)}.`);
}

/** Throw the TypeError for a combination of options that cannot work: `reason` says why. */
export function refuse(name: string, reason: string): never {
  throw new TypeError(`gateway-errors: \`${name}\` ${reason}.`);
}

/** Only `undefined` means "use the default": `null` is a value, and a wrong one. */
export function or<T>(value: unknown, fallback: T): unknown {
  return value === undefined ? fallback : value;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function checkObject(name: string, value: unknown, expected = 'an object'): Record<string, unknown> {
  if (!isPlainObject(value)) fail(name, expected, value);
  return value;
}

/** A key the option does not have is a typo, not something to ignore. */
export function checkKeys(name: string, value: Record<string, unknown>, known: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new TypeError(`gateway-errors: unknown option \`${name}.${key}\` (known: ${known.join(', ')}).`);
    }
  }
}

/** An integer from `min` to `max` (ms, bytes, counts). */
export function checkCount(name: string, value: unknown, max = Number.MAX_SAFE_INTEGER, min = 0): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(name, `an integer from ${min} to ${max}`, value);
  }
  return value;
}

export function checkBoolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') fail(name, 'a boolean', value);
  return value;
}

export function checkHook<T>(name: string, value: unknown): T | undefined {
  if (value !== undefined && typeof value !== 'function') fail(name, 'a function', value);
  return value as T | undefined;
}

export function checkLogger(value: unknown, name = 'logger'): GatewayLogger | undefined {
  if (value === undefined) return undefined;
  const l = value as Partial<GatewayLogger>;
  if (typeof l !== 'object' || l === null || typeof l.info !== 'function' || typeof l.warn !== 'function') {
    fail(name, 'an object with info() and warn() (pino, console, ...)', value);
  }
  return l as GatewayLogger;
}
