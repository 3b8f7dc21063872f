/**
 * A raw HTTP client for tests: no redirects followed, no retries, no pooling, bounded in time.
 */
import http from 'node:http';

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The body as received, for byte counts and binary checks. */
  bytes: Buffer;
  /** The response ended cleanly (false when the connection died mid-body). */
  complete: boolean;
}

export interface SendOptions {
  method?: string;
  headers?: Record<string, string>;
  /** The request body; an array is written chunk by chunk (chunked when no Content-Length is set). */
  body?: string | Buffer | readonly Buffer[];
  /** An agent to pool connections (load and soak runs). @default no agent, a connection per request */
  agent?: http.Agent;
  /** Give up after this many ms (the test fails rather than hangs). @default 10000 */
  timeout?: number;
}

export function send(url: string, options: SendOptions = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: options.method ?? 'GET', headers: options.headers ?? {}, agent: options.agent ?? false });
    const timer = setTimeout(() => {
      req.destroy(new Error(`no answer from ${url} within ${options.timeout ?? 10_000} ms`));
    }, options.timeout ?? 10_000);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      const done = (complete: boolean) => {
        clearTimeout(timer);
        const bytes = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: bytes.toString('utf8'), bytes, complete });
      };
      res.on('end', () => done(true));
      res.on('aborted', () => done(false));
      res.on('error', () => done(false));
    });
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    const { body } = options;
    if (Array.isArray(body)) {
      for (const c of body) req.write(c);
      req.end();
    } else req.end(body as string | Buffer | undefined);
  });
}

/** Resolve after `ms`. */
export const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Poll `check` until it returns true or `ms` passes. */
export async function eventually(check: () => boolean, ms = 2000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (check()) return true;
    await delay(10);
  }
  return check();
}
