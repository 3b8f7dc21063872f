// A complete rebrand: the pages in ./error-pages replace the built-in layout, content,
// illustration and footer; the brand option supplies name, logo, links and footer text.
//
//   npm run build && node examples/custom-templates/server.js
//
// Then open http://127.0.0.1:3000/ and follow the links to each failure.
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { gatewayErrors, gatewayProxy } from 'gateway-errors/express';

const port = Number(process.env.PORT ?? 3000);

// Two stand-in upstreams: one refuses connections (a port we opened and closed again), one
// accepts and never answers.
const closed = createServer();
await new Promise((resolve) => closed.listen(0, '127.0.0.1', resolve));
const refused = `http://127.0.0.1:${closed.address().port}`;
await new Promise((resolve) => closed.close(resolve));
const hanging = createServer(() => {});
await new Promise((resolve) => hanging.listen(0, '127.0.0.1', resolve));
const silent = `http://127.0.0.1:${hanging.address().port}`;

const app = express();
const gateway = gatewayErrors({
  // Read once at start-up: a missing directory or a template syntax error stops the app here.
  templates: fileURLToPath(new URL('./error-pages/', import.meta.url)),
  brand: {
    name: 'Pebble',
    // An inline SVG logo is shown through <img src="data:..."> so it can never run script.
    logo: '<svg viewBox="0 0 32 32"><ellipse cx="16" cy="18" rx="14" ry="11" fill="#d6efe9" stroke="#10302c" stroke-width="2.5"/></svg>',
    statusPage: 'https://status.pebble.example/',
    support: 'help@pebble.example',
    home: '/',
    footer: 'Pebble Payments Ltd. · We keep your money safe, even when our servers nap.',
  },
  // Words can be changed without touching a template.
  locales: { en: { statuses: { 503: { headline: 'Pebble is taking a short break' } } } },
});

app.use(gateway); // first: brands every 502/503/504 produced after it
app.get('/', (req, res) => {
  res.type('html').send(`<!doctype html><html lang="en"><title>Pebble demo</title>
<h1>Pebble error pages</h1>
<ul>
<li><a href="/api/balance">502</a>: the upstream refuses connections</li>
<li><a href="/maintenance">503</a>: a handler's own 503 with Retry-After (reloads by itself)</li>
<li><a href="/api/slow/statement">504</a>: the upstream never answers</li>
</ul>
<form method="post" action="/api/pay"><button>Pay 10 € (POST: shows the "may have gone through" warning)</button></form>`);
});
app.get('/maintenance', (req, res) => {
  res.set('Retry-After', '60').sendStatus(503);
});
app.use('/api/slow', gatewayProxy({ target: silent, responseTimeout: 1500, retry: false }));
app.use('/api', gatewayProxy({ target: refused }));
app.use(gateway.errorHandler); // last: maps thrown upstream failures

const server = app.listen(port, '127.0.0.1', () => {
  console.log(`custom-templates example on http://127.0.0.1:${server.address().port}/`);
});
// Ctrl-C closes both servers, so the example exits cleanly.
process.once('SIGINT', () => {
  server.close();
  hanging.close();
  server.closeAllConnections?.();
  hanging.closeAllConnections?.();
});
