/**
 * A controllable upstream instance for failover tests: a real Node server on 127.0.0.1 whose
 * behaviour can be switched while traffic flows (healthy, one route broken, every answer 503,
 * hanging, killed and restarted on the same port), counting what each request path and body id
 * received.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Mode = 'ok' | '503' | 'reset' | 'hang';

export interface TargetServer {
  readonly url: string;
  readonly port: number;
  /** Requests received (connections that never carried a request are not counted). */
  readonly hits: number;
  /** Request bodies received, by their `id` field (JSON bodies). */
  readonly ids: Map<string, number>;
  /** Requests received, by path (no query). */
  readonly paths: Map<string, number>;
  /** How every request is answered. */
  mode: Mode;
  /** A path that fails whatever the mode, and how. */
  broken: { path: string; how: '502' | '503' | 'reset' } | undefined;
  /** Stop listening and cut every connection: the port refuses. */
  kill(): Promise<void>;
  /** Listen again on the same port. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function startTarget(name: string, port = 0): Promise<TargetServer> {
  const ids = new Map<string, number>();
  const paths = new Map<string, number>();
  const sockets = new Set<Socket>();
  let server: http.Server | undefined;
  const self = {
    url: '',
    port,
    hits: 0,
    ids,
    paths,
    mode: 'ok' as Mode,
    broken: undefined as TargetServer['broken'],
    async kill() {
      const s = server;
      server = undefined;
      if (!s) return;
      for (const c of sockets) c.destroy();
      await new Promise((r) => s.close(r));
    },
    async restart() {
      const s = http.createServer(handler);
      s.keepAliveTimeout = 2000;
      s.on('connection', (c) => {
        sockets.add(c);
        c.once('close', () => sockets.delete(c));
      });
      await new Promise<void>((r) => s.listen(self.port, '127.0.0.1', r));
      self.port = (s.address() as AddressInfo).port;
      self.url = `http://127.0.0.1:${self.port}`;
      server = s;
    },
    async close() {
      await self.kill();
    },
  };
  function handler(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      self.hits++;
      const body = Buffer.concat(chunks).toString();
      if (body.startsWith('{')) {
        const id = (JSON.parse(body) as { id?: string }).id;
        if (id !== undefined) ids.set(id, (ids.get(id) ?? 0) + 1);
      }
      const path = (req.url ?? '/').split('?')[0]!;
      paths.set(path, (paths.get(path) ?? 0) + 1);
      const fault = self.broken !== undefined && path.endsWith(self.broken.path) ? self.broken.how : self.mode;
      if (fault === 'hang') return;
      if (fault === 'reset') {
        req.socket.destroy();
        return;
      }
      if (fault === '502' || fault === '503') {
        res.writeHead(Number(fault), { 'content-type': 'text/plain' }).end(`${name} ${fault}`);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ target: name, path }));
    });
  }
  await self.restart();
  return self;
}
