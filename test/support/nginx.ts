/**
 * Real nginx for tests, in the foreground, in a temporary prefix, listening on 127.0.0.1 only.
 * Debian's package puts the binary in /usr/sbin, which a non-root PATH may lack.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** The nginx binary, or undefined when nginx is not installed. */
export const NGINX = ['nginx', '/usr/sbin/nginx'].find((bin) => spawnSync(bin, ['-v']).status === 0);

export interface RunningNginx {
  /** Its temporary prefix directory (logs, temp files). */
  readonly dir: string;
  stop(): Promise<void>;
}

async function waitForPort(port: number, ms: number): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const up = await new Promise<boolean>((r) => {
      const s = net.connect(port, '127.0.0.1', () => (s.destroy(), r(true)));
      s.on('error', () => r(false));
    });
    if (up) return;
    if (Date.now() > until) throw new Error(`nginx did not listen on ${port} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Start nginx with `servers` (one or more `server { ... }` blocks) inside a minimal http block. */
export async function startNginx(servers: string, port: number): Promise<RunningNginx> {
  if (NGINX === undefined) throw new Error('nginx is not installed');
  const dir = mkdtempSync(path.join(tmpdir(), 'ge-nginx-'));
  writeFileSync(
    path.join(dir, 'nginx.conf'),
    `daemon off; master_process off; error_log ${dir}/error.log; pid ${dir}/nginx.pid;
events {}
http {
  access_log off;
  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
${servers}
}
`,
  );
  const child = spawn(NGINX, ['-p', dir, '-c', path.join(dir, 'nginx.conf')], { stdio: 'ignore' });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    await waitForPort(port, 5000);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    dir,
    stop: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
