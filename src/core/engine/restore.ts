/**
 * What an attempt through http-proxy's parts leaves changed on the client request, put back before
 * the next attempt: its X-Forwarded-* headers (`xfwd` adds to them) and, through `web()`, the
 * 'aborted' and 'error' listeners each call adds (they would trip MaxListenersExceeded).
 */
import type { IncomingMessage } from 'node:http';

const XFWD = ['x-forwarded-for', 'x-forwarded-port', 'x-forwarded-proto', 'x-forwarded-host'] as const;

export class RequestMarks {
  private constructor(
    private readonly req: IncomingMessage,
    /** The client's X-Forwarded-* as they came, when http-proxy adds to them. */
    private readonly xfwd: (string | string[] | undefined)[] | undefined,
    /** Listener counts before the first attempt, when attempts go through `web()`. */
    private readonly listeners: readonly [aborted: number, error: number] | undefined,
  ) {}

  /** Marks to restore to, or undefined when attempts change nothing on `req`. */
  static take(req: IncomingMessage, xfwd: boolean, throughWeb: boolean): RequestMarks | undefined {
    if (!xfwd && !throughWeb) return undefined;
    return new RequestMarks(
      req,
      xfwd ? XFWD.map((h) => req.headers[h]) : undefined,
      throughWeb ? [req.listenerCount('aborted'), req.listenerCount('error')] : undefined,
    );
  }

  restore(): void {
    const { req, xfwd, listeners } = this;
    if (xfwd !== undefined) {
      XFWD.forEach((h, i) => {
        const v = xfwd[i];
        if (v === undefined) delete req.headers[h];
        else req.headers[h] = v as string;
      });
    }
    if (listeners === undefined) return;
    // web()'s listeners come after ours and the framework's: the ones past the count are stale.
    for (const [event, keep] of [['aborted', listeners[0]], ['error', listeners[1]]] as const) {
      for (const l of req.listeners(event).slice(keep)) req.off(event, l as (...a: unknown[]) => void);
    }
  }
}
