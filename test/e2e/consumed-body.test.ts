/**
 * Bodies read by something mounted BEFORE gatewayErrors(), so no raw copy was recorded: a parsed
 * JSON body is rebuilt (same content, not the same bytes), and a body nobody kept fails the
 * request with a clear error naming the fix — never a request that hangs at the upstream.
 */
import type http from 'node:http';
import express from 'express';
import type Koa from 'koa';
import bodyParser from 'koa-bodyparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adapterNamed, forEachAdapter, type Adapter, type MountedApp } from '../support/apps.js';
import { send } from '../support/client.js';
import { startFaultKit, type FaultKit } from '../support/fault-kit.js';

let kit: FaultKit;
const open: MountedApp[] = [];
beforeAll(async () => {
  kit = await startFaultKit();
});
afterAll(async () => {
  await Promise.all(open.map((a) => a.close()));
  await kit.close();
});

/** An app with `before` mounted ahead of gatewayErrors(), one proxy to the fault kit. */
async function app({ mount }: Adapter, before: unknown): Promise<string> {
  const a = await mount({ before: [before], proxy: { target: kit.url } });
  open.push(a);
  return a.url;
}

/** Reads the body to the end and keeps nothing, as a logging or signature middleware might. */
function drain(req: http.IncomingMessage, done: () => void): void {
  req.resume();
  req.once('end', done);
}

/** drain() as the row's framework mounts it. */
const draining: Record<Adapter['kind'], unknown> = {
  express: ((req, _res, next) => drain(req, next)) satisfies express.RequestHandler,
  koa: ((ctx, next) => new Promise<void>((resolve) => drain(ctx.req, resolve)).then(next)) satisfies Koa.Middleware,
};

forEachAdapter('a body read before gatewayErrors() on $name', (adapter) => {
  it('fails a body nobody kept with a 500 that says to mount gatewayErrors() first', async () => {
    const url = await app(adapter, draining[adapter.kind]);
    const r = await send(`${url}/echo`, { method: 'POST', body: 'raw bytes', headers: { 'content-type': 'application/octet-stream' } });
    expect(r.status).toBe(500);
    expect(r.body).toContain('install gatewayErrors() before your body parser');
  });
});

describe('a body parsed before gatewayErrors() on Express 5', () => {
  it('rebuilds a JSON body that express.json() parsed', async () => {
    const url = await app(adapterNamed('Express 5'), express.json());
    const r = await send(`${url}/echo`, { method: 'POST', body: '{ "a" : 1 }', headers: { 'content-type': 'application/json' } });
    expect(r.status).toBe(200);
    const echo = JSON.parse(r.body);
    expect(JSON.parse(echo.body)).toEqual({ a: 1 });
    expect(echo.bodyLength).toBe(Buffer.byteLength(echo.body));
  });
});

describe('a body parsed before gatewayErrors() on Koa 3', () => {
  it('sends the raw body koa-bodyparser kept (ctx.request.rawBody)', async () => {
    const url = await app(adapterNamed('Koa 3'), bodyParser());
    const body = '{ "a" : 1 }';
    const r = await send(`${url}/echo`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).body).toBe(body);
  });
});
