import type { IncomingMessage } from 'node:http';
import http from 'node:http';
import common from 'http-proxy/lib/http-proxy/common.js';
import { describe, expect, it } from 'vitest';
import { outgoingOf, parseTarget } from '../../src/core/engine/outgoing.js';

/** setupOutgoing's answer without the fields it leaves undefined: what http.request() sees. */
function defined(o: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

/** The request as setupOutgoing reads it: url, method, headers. */
function request(url: string, method = 'GET', headers: Record<string, string> = { host: 'gw.example', accept: '*/*' }): IncomingMessage {
  return { url, method, headers } as unknown as IncomingMessage;
}

const agent = new http.Agent({ keepAlive: true });
const TARGETS = [
  'http://127.0.0.1:4000',
  'http://127.0.0.1:4000/',
  'http://upstream.test',
  'http://upstream.test:80',
  'https://upstream.test',
  'https://upstream.test:8443',
  'http://[::1]:4000',
  'ws://127.0.0.1:4000',
  'wss://upstream.test',
  'http://127.0.0.1:4000/api',
  'http://127.0.0.1:4000/api/',
  'http://127.0.0.1:4000/?k=v',
  'http://user:pa%20ss@127.0.0.1:4000',
];
const OPTIONS: Record<string, unknown>[] = [
  {},
  { changeOrigin: true },
  { secure: false },
  { secure: true, changeOrigin: true },
  { headers: { 'x-added': '1', host: 'own.example' } },
  { prependPath: false },
  { ignorePath: true },
  { toProxy: true },
  { method: 'POST' },
  { auth: 'a:b' },
  { localAddress: '127.0.0.1' },
  { agent: false },
];
const URLS = [
  '/',
  '/ok?size=1024',
  '/a/b/c',
  '/a/b/',
  '/?',
  '/a??b',
  '/a?b=c/d&e=f?g',
  '/items:batchGet',
  '/a@b/c;d=e',
  "/it's",
  '/a b',
  '/a"b',
  '/a\\b',
  '/a//b',
  '//a',
  '/x?next=//evil',
  '/go/http:/x',
  '/go/https://x',
  '/a#frag',
  '/%2F%zz',
  '/caf\u00e9',
  '*',
  'http://other.test/abs?x=1',
  '',
];

describe('outgoingOf: the upstream request options, as http-proxy setupOutgoing makes them', () => {
  it.each(TARGETS)('target %s: every option set and request target gives what setupOutgoing gives', (target) => {
    for (const extra of OPTIONS) {
      for (const url of URLS) {
        const options = { agent, ...extra, target: parseTarget(target) };
        const req = request(url);
        const theirs = defined(common.setupOutgoing({}, { ...options }, req));
        expect(defined(outgoingOf({ ...options }, req)), `${JSON.stringify(extra)} ${JSON.stringify(url)}`).toEqual(theirs);
      }
    }
  });

  it('gives the same path as url.parse() and urlJoin for random request targets', () => {
    // A seeded generator: the same strings each run, many of them near the edge cases above.
    let seed = 20261207;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    const alphabet = ['/', '/', '/', 'a', 'Z', '0', '-', '.', '_', '~', '?', '?', '=', '&', '%', ':', '@', '!', '$', "'", '(', '*', '+', ',', ';', '#', ' ', '"', '<', '\\', '^', '`', '{', '|', 'h', 't', 'p', 's', '\u00e9'];
    for (const target of ['http://127.0.0.1:4000', 'http://127.0.0.1:4000/api']) {
      const options = { agent, target: parseTarget(target) };
      for (let i = 0; i < 3000; i++) {
        let url = '/';
        for (let n = rand(14); n > 0; n--) url += alphabet[rand(alphabet.length)];
        const req = request(url);
        expect(outgoingOf({ ...options }, req).path, url).toBe(common.setupOutgoing({}, { ...options }, req).path);
      }
    }
  });

  it('builds the plain case itself: no field left undefined for the agent to copy', () => {
    const out = outgoingOf({ agent, changeOrigin: true, target: parseTarget('http://127.0.0.1:4000') }, request('/ok?size=1024'));
    expect(Object.entries(out).filter(([, v]) => v === undefined)).toEqual([]);
    expect(out).toMatchObject({ host: '127.0.0.1:4000', hostname: '127.0.0.1', port: '4000', path: '/ok?size=1024', method: 'GET' });
    expect(out.headers).toEqual({ host: '127.0.0.1:4000', accept: '*/*' });
  });

  it('leaves a target it did not parse (a user object) to http-proxy', () => {
    const target = { protocol: 'http:', host: '127.0.0.1:4000', hostname: '127.0.0.1', port: '4000', path: '/' };
    const out = outgoingOf({ agent, target }, request('/ok'));
    expect(out).toEqual(common.setupOutgoing({}, { agent, target }, request('/ok')));
  });
});
