/**
 * A listener whose accept queue is full, so new connections hang in SYN-SENT: a real connect
 * timeout on loopback. Node accepts every connection itself, so the listener is a python3
 * socket with backlog 0 that never calls accept(); one connection fills its queue.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';

export interface Blackhole {
  url: string;
  close(): Promise<void>;
}

export async function startBlackhole(): Promise<Blackhole> {
  const py = spawn('python3', ['-c', [
    'import socket, sys',
    's = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)',
    'print(s.getsockname()[1], flush=True)',
    'sys.stdin.read()',
  ].join('\n')], { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    py.once('error', reject);
    py.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim())));
  });
  // Fill the accept queue.
  const filler = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    filler.once('connect', resolve);
    filler.once('error', reject);
  });
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      filler.destroy();
      py.stdin.end();
      py.kill();
      await new Promise((r) => py.once('exit', r));
    },
  };
}
