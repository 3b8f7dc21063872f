/**
 * HTTP/1.1 on an upgrade's raw socket, where Node's response objects do not reach: the switch
 * (101, then the two sockets piped), an upstream's answer relayed, and our own final answer.
 */
import http, { type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import common from 'http-proxy/lib/http-proxy/common.js';
import type { Reply } from '../types.js';

export interface SwitchingServer {
  emit(event: string, ...args: unknown[]): boolean;
}

/**
 * The 101 goes to the client; from here on the two sockets are one pipe. `early` is what the
 * client sent behind its handshake, for the upstream before anything else.
 */
export function connect(server: SwitchingServer, socket: Duplex, early: Buffer, proxyRes: IncomingMessage, proxySocket: Socket, proxyHead: Buffer): void {
  common.setupSocket(socket as Socket);
  common.setupSocket(proxySocket);
  if (early.length > 0) socket.unshift(early);
  if (proxyHead.length > 0) proxySocket.unshift(proxyHead);
  const close = () => {
    socket.destroy();
    proxySocket.destroy();
  };
  proxySocket.on('error', close);
  socket.on('error', close);
  // A user's on.open / on.close that throws closes this connection, not the process.
  proxySocket.once('end', () => guarded(close, () => server.emit('close', proxyRes, proxySocket, proxyHead)));
  socket.write(httpHead('HTTP/1.1 101 Switching Protocols', proxyRes.headers));
  proxySocket.pipe(socket).pipe(proxySocket);
  guarded(close, () => server.emit('open', proxySocket));
}

function guarded(onThrow: () => void, fn: () => void): void {
  try {
    fn();
  } catch {
    onThrow();
  }
}

/** Framing of the upstream's head that does not describe what goes to the client here. */
const RELAY_DROPPED = new Set(['transfer-encoding', 'content-length', 'connection', 'keep-alive']);

/**
 * An upstream's own answer that is not a switch (a 401, a 404): relayed with its status, headers
 * and body. The body arrives de-chunked, so it goes out unframed, ended by closing the socket.
 */
export function relay(socket: Duplex, proxyRes: IncomingMessage): void {
  if (!socket.writable) return void proxyRes.destroy();
  const headers: IncomingMessage['headers'] = {};
  for (const [name, value] of Object.entries(proxyRes.headers)) if (!RELAY_DROPPED.has(name)) headers[name] = value;
  headers.connection = 'close';
  socket.write(httpHead(`HTTP/1.1 ${proxyRes.statusCode} ${proxyRes.statusMessage}`, headers));
  proxyRes.on('error', () => socket.destroy());
  proxyRes.pipe(socket);
}

function httpHead(line: string, headers: IncomingMessage['headers']): string {
  const lines = [line];
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${v}`);
  }
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** A whole HTTP/1.1 answer on the raw socket, then the socket is closed. */
export function answer(socket: Duplex, reply: Reply): void {
  if (!socket.writable) return void socket.destroy();
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(reply.headers)) if (k !== 'connection') headers[k] = v;
  headers.connection = 'close';
  socket.end(httpHead(`HTTP/1.1 ${reply.status} ${http.STATUS_CODES[reply.status] ?? ''}`, headers) + (reply.body ?? ''));
}
