/**
 * Start an example (or the demo) as its own Node process, the way a user runs it, and find the
 * port it prints. Everything is bounded in time, and stop() always reaps the process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface Running {
  /** `http://127.0.0.1:<port>` of the first such URL the process printed. */
  readonly url: string;
  /** Everything the process wrote to stdout so far. */
  output(): string;
  /** Resolve once stdout matches `pattern` (or reject after `ms`). */
  waitFor(pattern: RegExp, ms?: number): Promise<RegExpMatchArray>;
  /** SIGTERM, then SIGKILL after 5 s; resolves once the process has exited. */
  stop(): Promise<void>;
}

/** Run `node <file>` from the package root (so `gateway-errors/...` resolves to the built package). */
export async function start(file: string, env: Record<string, string> = {}, ms = 15_000): Promise<Running> {
  const child: ChildProcess = spawn(process.execPath, [file], {
    cwd: ROOT,
    env: { ...process.env, NO_COLOR: '1', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));

  const waitFor = (pattern: RegExp, wait = ms): Promise<RegExpMatchArray> =>
    new Promise((resolve, reject) => {
      const until = Date.now() + wait;
      const check = (): void => {
        const m = stdout.match(pattern);
        if (m) return resolve(m);
        if (exited) return reject(new Error(`${file} exited before printing ${pattern}\nstdout:\n${stdout}\nstderr:\n${stderr}`));
        if (Date.now() > until) return reject(new Error(`${file} did not print ${pattern} within ${wait} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`));
        setTimeout(check, 20);
      };
      check();
    });

  const stop = async (): Promise<void> => {
    if (exited) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exit;
    clearTimeout(timer);
  };

  try {
    const [url] = await waitFor(/http:\/\/127\.0\.0\.1:\d+/);
    return { url, output: () => stdout, waitFor, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
