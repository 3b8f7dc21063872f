/**
 * WebSocket (and other HTTP/1.1) upgrades: the same care as for requests.
 *
 * http-proxy's `ws()` destroys the client's socket on any failure, so the client sees a reset,
 * never an answer, and it knows nothing of timeouts, targets or the circuit. Here each upgrade is
 * an attempt loop of its own: the circuit and the concurrency limit answer at once, a failed
 * handshake is tried again (on a target not yet tried, with `targets`) while nothing has been
 * relayed, and a final failure is a real HTTP/1.1 answer on the socket — 502/503/504 with
 * Proxy-Status, Retry-After on 503, `Connection: close`, a short body. Never after the 101: from
 * then on the two sockets are piped and an error on either closes both. The handshake is made
 * from http-proxy's own parts (its ws passes and `setupOutgoing`), so every option means what it
 * means there, and 'proxyReqWs', 'open' and 'close' are emitted as http-proxy emits them.
 */
import http, { type ClientRequest, type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import common from 'http-proxy/lib/http-proxy/common.js';
import { decideRetry } from '../decide/retry.js';
import { OPEN } from './circuit.js';
import { classifyError, failureOf } from '../decide/classify.js';
import type { Emitter } from '../observe/events.js';
import { verdictOf, type AttemptResult } from './attempt.js';
import { pathOf } from './context.js';
import { parseTarget } from './outgoing.js';
import { answer, connect, relay } from './upgrade-socket.js';
import type { NormalizedProxyExtras, NormalizedRetryPolicy } from '../options.js';
import { isGatewayStatus, requestFacts, type Responder } from '../answer/respond.js';
import { parseRetryAfter } from '../decide/retry-after.js';
import type { Target, TargetSet } from './targets.js';
import type { Failure } from '../types.js';
import type { Upstream } from './upstream.js';

type Pass = (req: IncomingMessage, socket: Duplex, options: Record<string, unknown>, head: Buffer, server: unknown) => unknown;
export interface WsServerLike {
  wsPasses: Pass[];
  emit(event: string, ...args: unknown[]): boolean;
}

export interface UpgradeContext {
  readonly extras: NormalizedProxyExtras;
  /** The proxy's retry policy as written: a per-request function form is for HTTP requests, whose framework it is asked with; upgrades get the defaults. */
  readonly policy: NormalizedRetryPolicy | false;
  readonly emit: Emitter;
  readonly targets: TargetSet | undefined;
  upstreamFor(target: unknown): Upstream<AttemptResult>;
  /** The responder for its answers: the proxy's `errors` options, or the defaults (no middleware runs for an upgrade). */
  responder(): Responder;
}

const LIMIT_RETRY_AFTER = 1;

interface HandshakeState {
  /** The client left (closed, or ended its side). */
  gone: boolean;
  /** What the client sent behind its handshake. */
  early: Buffer[];
  /** Called when it leaves: the handshake in progress stops. */
  onGone: Set<() => void>;
}

type Handshake =
  | { kind: 'upgraded'; proxyRes: IncomingMessage; proxySocket: Socket; proxyHead: Buffer }
  | { kind: 'response'; proxyRes: IncomingMessage }
  | { kind: 'failed'; failure: Failure; unsent: boolean }
  | { kind: 'error'; error: unknown }
  | { kind: 'aborted' };


/** Proxy one upgrade request; never throws, never leaves the client's socket without an answer. */
export async function proxyUpgrade(u: UpgradeContext, server: WsServerLike, req: IncomingMessage, socket: Duplex, head: Buffer, options: Record<string, unknown>): Promise<void> {
  // A client that resets mid-handshake must not take the process down.
  socket.on('error', noop);
  // Node leaves an upgraded socket paused: read it during the handshake, so a client that leaves
  // is noticed ('end' comes only to a reader) and what it sent behind the handshake (its first
  // frames) is kept for the upstream.
  const state: HandshakeState = { gone: false, early: [], onGone: new Set() };
  const leave = () => {
    state.gone = true;
    for (const f of state.onGone) f();
  };
  const collect = (chunk: Buffer) => void state.early.push(chunk);
  socket.on('data', collect);
  socket.once('end', leave);
  socket.once('close', leave);
  const stopReading = () => {
    socket.pause();
    socket.off('data', collect);
    socket.off('end', leave);
  };
  if (typeof options.target === 'string') options.target = parseTarget(options.target);
  // http-proxy's passes before its stream (method and Upgrade header checks, X-Forwarded-*).
  for (const pass of server.wsPasses) {
    if (pass.name === 'stream') break;
    if (pass(req, socket, options, head, server)) return;
  }
  const upstream = u.upstreamFor(options.target);
  const path = pathOf(req);
  const giveUp = (failure: Failure, attempts: number, reason: string) => {
    u.emit.giveUp({ upstream: upstream.name, attempts, reason, failure, method: req.method ?? 'GET', path });
    answer(socket, u.responder().reply(failure, requestFacts(req.method, req.headers)));
  };
  const blocked = upstream.circuit?.blockedFor();
  if (blocked !== undefined) return giveUp({ ...failureOf('destination_unavailable'), retryAfter: blocked, unsent: true }, 0, 'circuit_open');
  const { maxConcurrent } = u.extras;
  if (maxConcurrent > 0 && upstream.active >= maxConcurrent) {
    return giveUp({ ...failureOf('connection_limit_reached'), retryAfter: LIMIT_RETRY_AFTER, unsent: true }, 0, 'concurrency_limit');
  }
  upstream.active++;
  upstream.budget?.deposit();
  let attempts = 0;
  let reason = 'retries_exhausted';
  const tried = new Set<Target>();
  const loop = async (): Promise<Handshake> => {
    for (;;) {
      attempts++;
      const target = u.targets?.pick(tried);
      if (target !== undefined) {
        tried.add(target);
        target.active++;
        options.target = target.legacy;
      }
      const h = await handshake(u.extras, server, req, socket, head, options, state);
      if (target !== undefined) u.targets!.settled(target, verdictOf(h as AttemptResult));
      if (h.kind !== 'failed') return h;
      // A handshake is a GET without a body: it may always be sent again. An instance's
      // Retry-After speaks for that instance only, as for requests.
      const elsewhere = u.targets?.hasUntried(tried) === true;
      const decision = decideRetry({
        policy: u.policy,
        replayable: true,
        retriesUsed: attempts - 1,
        retryable: h.failure.retryable,
        retryAfter: elsewhere ? undefined : h.failure.retryAfter,
        responseStarted: false,
        clientGone: state.gone,
        circuitOpen: upstream.circuit?.blockedFor() !== undefined,
        budgetExhausted: upstream.budget?.hasRoom() === false,
      });
      if (!decision.retry) {
        reason = decision.reason;
        return h;
      }
      upstream.budget?.withdraw();
      const delay = elsewhere ? 0 : decision.delay;
      u.emit.retry({ upstream: upstream.name, attempt: attempts, delay, reason: decision.reason, failure: h.failure, method: req.method ?? 'GET', path });
      if (delay > 0) await new Promise((r) => setTimeout(r, delay));
      if (state.gone) return { kind: 'aborted' };
    }
  };
  let h: Handshake;
  try {
    const circuit = upstream.circuit;
    const r = circuit === undefined ? await loop() : await circuit.run(loop as () => Promise<never>);
    h = r === OPEN ? { kind: 'failed', failure: { ...failureOf('destination_unavailable'), retryAfter: circuit!.blockedFor() ?? 1 }, unsent: true } : (r as Handshake);
    if (r === OPEN) reason = 'circuit_open';
  } catch (err) {
    h = { kind: 'error', error: err };
  } finally {
    upstream.active--;
  }
  stopReading();
  switch (h.kind) {
    case 'upgraded':
      if (state.gone) return void h.proxySocket.destroy();
      return connect(server, socket, Buffer.concat([head, ...state.early]), h.proxyRes, h.proxySocket, h.proxyHead);
    case 'response':
      return relay(socket, h.proxyRes);
    case 'failed':
      if (state.gone) return;
      return giveUp(h.unsent ? { ...h.failure, unsent: true } : h.failure, attempts, reason);
    case 'error':
      // Not an upstream failure (a handler's bug): the client still gets an answer, not a reset.
      if (!state.gone) answer(socket, { status: 500, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'Internal Server Error\n' });
      return;
    case 'aborted':
      socket.destroy();
  }
}

/** One handshake with the upstream, with its own connect and response timers. */
function handshake(
  extras: NormalizedProxyExtras,
  server: WsServerLike,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  options: Record<string, unknown>,
  state: HandshakeState,
): Promise<Handshake> {
  return new Promise((resolve) => {
    let proxyReq: ClientRequest;
    let settled = false;
    let connected = false;
    let timer: NodeJS.Timeout | undefined;
    const settle = (h: Handshake) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      state.onGone.delete(onGone);
      resolve(h);
    };
    const onGone = () => {
      proxyReq?.destroy();
      settle({ kind: 'aborted' });
    };
    if (state.gone) return settle({ kind: 'aborted' });
    state.onGone.add(onGone);
    const arm = (type: 'connection_timeout' | 'http_response_timeout', ms: number) => {
      clearTimeout(timer);
      if (ms > 0) timer = setTimeout(() => {
        settle({ kind: 'failed', failure: failureOf(type), unsent: !connected });
        proxyReq.destroy();
      }, ms);
    };
    try {
      const target = options.target as { protocol?: string };
      const outgoing = common.setupOutgoing((options.ssl as Record<string, unknown> | undefined) ?? {}, options, req);
      proxyReq = (target.protocol === 'https:' || target.protocol === 'wss:' ? https : http).request(outgoing);
    } catch (err) {
      return settle({ kind: 'error', error: err });
    }
    proxyReq.on('socket', (s: Socket) => {
      if (!s.connecting) {
        connected = true;
        return arm('http_response_timeout', extras.responseTimeout);
      }
      arm('connection_timeout', extras.connectTimeout);
      s.once('connect', () => {
        connected = true;
        arm('http_response_timeout', extras.responseTimeout);
      });
    });
    proxyReq.on('error', (err) => {
      const failure = classifyError(err);
      settle(failure === undefined ? { kind: 'error', error: err } : { kind: 'failed', failure, unsent: !connected });
    });
    proxyReq.on('response', (proxyRes: IncomingMessage) => {
      if (settled) return void proxyRes.destroy();
      const status = proxyRes.statusCode ?? 0;
      if (!isGatewayStatus(status)) return settle({ kind: 'response', proxyRes });
      proxyRes.resume();
      const retryAfter = parseRetryAfter(proxyRes.headers['retry-after']);
      settle({ kind: 'failed', failure: { status, receivedStatus: status, retryable: true, ...(retryAfter !== undefined && { retryAfter }) }, unsent: false });
    });
    proxyReq.on('upgrade', (proxyRes: IncomingMessage, proxySocket: Socket, proxyHead: Buffer) => {
      if (settled) return void proxySocket.destroy();
      settle({ kind: 'upgraded', proxyRes, proxySocket, proxyHead });
    });
    try {
      server.emit('proxyReqWs', proxyReq, req, socket, options, head);
    } catch (err) {
      proxyReq.destroy();
      return settle({ kind: 'error', error: err });
    }
    proxyReq.end();
  });
}

function noop(): void {}
