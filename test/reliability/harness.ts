/**
 * What the reliability suites share: watchers for what must never happen in the process
 * (warnings, unhandled rejections, errors that reach the framework) and a handle census for leak
 * checks. The apps themselves come from test/support/apps.ts, which records every error that
 * reaches the framework.
 */
import { delay } from '../support/client.js';

/** Everything the process said that a healthy gateway never says. */
export interface ProcessWatch {
  readonly warnings: Error[];
  readonly rejections: unknown[];
  /** Stop listening. Safe to call twice. */
  stop(): void;
}

/**
 * Collect `process` warnings (MaxListenersExceededWarning, a template warning, deprecations)
 * and unhandled rejections until `stop()`. Listeners are added, never replacing vitest's own.
 */
export function watchProcess(): ProcessWatch {
  const warnings: Error[] = [];
  const rejections: unknown[] = [];
  const onWarning = (w: Error): void => {
    // http-proxy 1.18.1 (under http-proxy-middleware 3) calls util._extend, which Node 22+
    // deprecates once per process (DEP0060): not ours, and the same for every HPM 3 user.
    if ((w as NodeJS.ErrnoException).code === 'DEP0060') return;
    warnings.push(w);
  };
  const onRejection = (reason: unknown): void => void rejections.push(reason);
  process.on('warning', onWarning);
  process.on('unhandledRejection', onRejection);
  return {
    warnings,
    rejections,
    stop() {
      process.off('warning', onWarning);
      process.off('unhandledRejection', onRejection);
    },
  };
}

/** `process.getActiveResourcesInfo()` as counts per kind, e.g. { TCPSocketWrap: 3, Timeout: 2 }. */
export function handleCensus(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

/** Kinds whose count is above the baseline: `{ kind: [baseline, now] }`. */
export function handlesAbove(baseline: Record<string, number>, now = handleCensus()): Record<string, [number, number]> {
  const above: Record<string, [number, number]> = {};
  for (const [kind, n] of Object.entries(now)) {
    const base = baseline[kind] ?? 0;
    if (n > base) above[kind] = [base, n];
  }
  return above;
}

/**
 * Poll until no kind of handle is above the baseline (keep-alive sockets close on the
 * upstream's keepAliveTimeout, so this takes a moment), then return what is still above: `{}`
 * when nothing leaked.
 */
export async function handlesSettled(baseline: Record<string, number>, ms = 3000): Promise<Record<string, [number, number]>> {
  const until = Date.now() + ms;
  let above = handlesAbove(baseline);
  while (Object.keys(above).length > 0 && Date.now() < until) {
    await delay(20);
    above = handlesAbove(baseline);
  }
  return above;
}

/** A short description of an error for assertion messages. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return `${(err as NodeJS.ErrnoException).code ?? err.name}: ${err.message}`;
  return String(err);
}

/** Run `task(i)` for i in [0, count) with at most `concurrency` in flight. */
export async function pool(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

/**
 * Errors that reached the framework, minus one expected kind: Koa itself reports (app 'error'
 * event, logged by default) a client connection reset after the head went out (ECONNRESET,
 * `headerSent: true`) — for any streamed body, ours or its own. An upstream dying mid-body is no
 * longer among them: the engine cuts the client without handing the upstream's error to `res`.
 */
export function unexpectedErrors(errors: unknown[]): string[] {
  return errors
    .filter((e) => !((e as { headerSent?: boolean }).headerSent === true && (e as NodeJS.ErrnoException).code === 'ECONNRESET'))
    .map(describeError);
}
