/**
 * Bodies read by something mounted BEFORE gatewayErrors(), so no raw copy was recorded: a parsed
 * JSON body is rebuilt (same content, not the same bytes), and a body nobody kept fails the
 * request with a clear error naming the fix — never a request that hangs at the upstream.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Koa from 'koa';
import bodyParser from 'koa-bodyparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as expressAdapter from '../../src/express/index.js';
import * as koaAdapter from '../../src/koa/index.js';
import { send } from '../support/client.js';
import { startFaultKit, type FaultKit } from '../support/fault-kit.js';

let kit: FaultKit;
const servers: http.Server[] = [];
beforeAll(async () => {
  kit = await startFaultKit();
});
afterAll(async () => {
  for (const s of servers) s.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  await kit.close();
});

async function listen(handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Reads the body to the end and keeps nothing, as a logging or signature middleware might. */
function drain(req: http.IncomingMessage, done: () => void): void {
  req.resume();
  req.once('end', done);
}

describe('a body read before gatewayErrors() on Express', () => {
  function app(before: express.RequestHandler): Promise<string> {
    const a = express();
    a.use(before);
    const gateway = expressAdapter.gatewayErrors();
    a.use(gateway);
    a.use(expressAdapter.gatewayProxy({ target: kit.url }));
    a.use(gateway.errorHandler);
    a.use((err: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      res.status(500).type('text/plain').send(`app handler: ${err.message}`);
    });
    return listen(a);
  }

  it('rebuilds a JSON body that express.json() parsed', async () => {
    const url = await app(express.json());
    const r = await send(`${url}/echo`, { method: 'POST', body: '{ "a" : 1 }', headers: { 'content-type': 'application/json' } });
    expect(r.status).toBe(200);
    const echo = JSON.parse(r.body);
    expect(JSON.parse(echo.body)).toEqual({ a: 1 });
    expect(echo.bodyLength).toBe(Buffer.byteLength(echo.body));
  });

  it('fails a body nobody kept with a 500 that says to mount gatewayErrors() first', async () => {
    const url = await app((req, _res, next) => drain(req, next));
    const r = await send(`${url}/echo`, { method: 'POST', body: 'raw bytes', headers: { 'content-type': 'application/octet-stream' } });
    expect(r.status).toBe(500);
    expect(r.body).toContain('install gatewayErrors() before your body parser');
  });
});

describe('a body read before gatewayErrors() on Koa', () => {
  function app(before: Koa.Middleware): Promise<string> {
    const a = new Koa();
    a.silent = true;
    a.use(async (ctx, next) => {
      try {
        await next();
      } catch (err) {
        ctx.status = 500;
        ctx.body = `app handler: ${(err as Error).message}`;
      }
    });
    a.use(before);
    a.use(koaAdapter.gatewayErrors());
    a.use(koaAdapter.gatewayProxy({ target: kit.url }));
    return listen(a.callback());
  }

  it('sends the raw body koa-bodyparser kept (ctx.request.rawBody)', async () => {
    const url = await app(bodyParser());
    const body = '{ "a" : 1 }';
    const r = await send(`${url}/echo`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).body).toBe(body);
  });

  it('fails a body nobody kept with a 500 that says to mount gatewayErrors() first', async () => {
    const url = await app((ctx, next) => new Promise<void>((resolve) => drain(ctx.req, resolve)).then(next));
    const r = await send(`${url}/echo`, { method: 'POST', body: 'raw bytes', headers: { 'content-type': 'application/octet-stream' } });
    expect(r.status).toBe(500);
    expect(r.body).toContain('install gatewayErrors() before your body parser');
  });
});
