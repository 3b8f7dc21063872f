/**
 * What an upstream really receives: a TCP tee in front of a real Node upstream records every byte
 * the gateway writes on each connection, and a strict HTTP/1.1 splitter turns those bytes back
 * into messages. A body sent twice under one Content-Length shows as an extra message (or as
 * bytes left over), whatever the upstream application made of it.
 */
import http from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';

export interface WireMessage {
  /** The request line, e.g. `POST /api HTTP/1.1`. */
  line: string;
  headers: Record<string, string>;
  body: Buffer;
}

export interface SplitResult {
  messages: WireMessage[];
  /** Bytes after the last complete message (a cut-off or unframed tail): none on a clean wire. */
  leftover: Buffer;
  /** The head of the message the leftover starts, when it is one cut off before its body ended. */
  partial?: WireMessage;
  /** The connection has closed. */
  closed?: boolean;
}

function dechunk(buf: Buffer, from: number): { body: Buffer; end: number } | undefined {
  const parts: Buffer[] = [];
  let pos = from;
  for (;;) {
    const eol = buf.indexOf('\r\n', pos);
    if (eol === -1) return undefined;
    const size = Number.parseInt(buf.subarray(pos, eol).toString('latin1').split(';')[0]!, 16);
    if (!Number.isFinite(size)) return undefined;
    pos = eol + 2;
    if (size === 0) {
      const end = buf.indexOf('\r\n', pos); // no trailers are sent by Node here
      return end === -1 ? undefined : { body: Buffer.concat(parts), end: end + 2 };
    }
    if (pos + size + 2 > buf.length) return undefined;
    parts.push(buf.subarray(pos, pos + size));
    pos += size + 2;
  }
}

/** Split the bytes of one connection into HTTP/1.1 requests, framed as RFC 9112 says. */
export function splitRequests(buf: Buffer): SplitResult {
  const messages: WireMessage[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const headEnd = buf.indexOf('\r\n\r\n', pos);
    if (headEnd === -1) break;
    const [line = '', ...rest] = buf.subarray(pos, headEnd).toString('latin1').split('\r\n');
    const headers: Record<string, string> = {};
    for (const h of rest) {
      const i = h.indexOf(':');
      const name = h.slice(0, i).trim().toLowerCase();
      headers[name] = headers[name] === undefined ? h.slice(i + 1).trim() : `${headers[name]}, ${h.slice(i + 1).trim()}`;
    }
    let body: Buffer;
    let next: number;
    if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const d = dechunk(buf, headEnd + 4);
      if (d === undefined) return { messages, leftover: buf.subarray(pos), partial: { line, headers, body: buf.subarray(headEnd + 4) } };
      body = d.body;
      next = d.end;
    } else {
      const len = Number(headers['content-length'] ?? 0);
      if (headEnd + 4 + len > buf.length) return { messages, leftover: buf.subarray(pos), partial: { line, headers, body: buf.subarray(headEnd + 4) } };
      body = buf.subarray(headEnd + 4, headEnd + 4 + len);
      next = headEnd + 4 + len;
    }
    messages.push({ line, headers, body });
    pos = next;
  }
  return { messages, leftover: buf.subarray(pos) };
}

export interface Handled {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface WiredUpstream {
  /** Where the gateway sends its requests: the tee. */
  readonly url: string;
  /** What the real upstream application handled, in order. */
  readonly handled: Handled[];
  /** The bytes of each gateway-to-upstream connection so far, split into requests. */
  wire(): SplitResult[];
  /** Forget what was recorded (connections stay open, so pooling carries on). */
  reset(): void;
  close(): Promise<void>;
}

/**
 * A real Node upstream behind a recording tee. `answer` decides each response (default: 200 with
 * a short JSON body); it sees the request and its body.
 */
export async function startWiredUpstream(
  answer: (req: http.IncomingMessage, body: Buffer, res: http.ServerResponse) => void = (_q, _b, res) => {
    res.setHeader('content-type', 'application/json');
    res.end('{"ok":true}');
  },
): Promise<WiredUpstream> {
  const handled: Handled[] = [];
  const app = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      handled.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      answer(req, body, res);
    });
  });
  // A client error (a malformed smuggled request) must not crash the upstream: Node answers 400.
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  const appPort = (app.address() as AddressInfo).port;

  const connections: { chunks: Buffer[]; closed: boolean }[] = [];
  const sockets = new Set<Socket>();
  const tee = net.createServer((client) => {
    const conn = { chunks: [] as Buffer[], closed: false };
    connections.push(conn);
    const upstream = net.connect(appPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('data', (c: Buffer) => {
      conn.chunks.push(c);
      upstream.write(c);
    });
    upstream.on('data', (c: Buffer) => client.write(c));
    const end = () => {
      conn.closed = true;
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((r) => tee.listen(0, '127.0.0.1', r));
  const teePort = (tee.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${teePort}`,
    handled,
    wire: () => connections.filter((c) => c.chunks.length > 0).map((c) => ({ ...splitRequests(Buffer.concat(c.chunks)), closed: c.closed })),
    reset() {
      handled.length = 0;
      // Pooled connections stay open and go on recording from here.
      for (const c of connections) c.chunks = [];
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      app.closeAllConnections();
      await Promise.all([new Promise((r) => tee.close(r)), new Promise((r) => app.close(r))]);
    },
  };
}
