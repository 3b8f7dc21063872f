'use strict';
/**
 * Plain helpers the consumer fixtures share (CommonJS, so both `import` and `require()` load
 * it). Nothing here touches gateway-errors: each fixture loads the package its own way.
 */
const assert = require('node:assert/strict');
const http = require('node:http');

/** A port on 127.0.0.1 that refuses connections: bound once, then closed. */
async function closedPort() {
  const server = http.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Serve `handler` on 127.0.0.1, request `path` once, and assert the gateway's answer to a
 * refused upstream: 502, `Proxy-Status: <proxyName>; error=connection_refused`, problem+json.
 */
async function expectRefused(label, handler, path, proxyName) {
  const server = http.createServer(handler);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address();
    const res = await fetch(`http://127.0.0.1:${port}${path}`, {
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(10_000),
    });
    const body = await res.json();
    assert.equal(res.status, 502, `${label}: status`);
    assert.equal(res.headers.get('proxy-status'), `${proxyName}; error=connection_refused`, `${label}: Proxy-Status`);
    assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json; charset=utf-8$/, `${label}: Content-Type`);
    assert.equal(body.status, 502, `${label}: problem status`);
    console.log(`ok - ${label}: 502 with Proxy-Status ${res.headers.get('proxy-status')}`);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

module.exports = { closedPort, expectRefused };
