// An app that calls its upstream itself with fetch: failures become branded 502/503/504 answers.
//
//   WEATHER_URL=http://127.0.0.1:4000/weather PORT=3000 node examples/fetch-in-route/server.js
//
// - connection refused, reset, DNS failure: fetch throws TypeError('fetch failed') with the real
//   code in `err.cause`; gateway.errorHandler maps it (502 connection_refused, ...);
// - too slow: AbortSignal.timeout() throws a TimeoutError: 504 http_response_timeout;
// - the upstream answers 502/503/504: the route passes the status on and gatewayErrors() brands it;
// - any other error (a bug) keeps its normal handling: the app's own 500 handler below.
import express from 'express';
import { gatewayErrors } from 'gateway-errors/express';

const weatherUrl = process.env.WEATHER_URL ?? 'http://127.0.0.1:4000/weather';
const timeoutMs = Number(process.env.TIMEOUT_MS ?? 2000);
const port = Number(process.env.PORT ?? 3000);

const app = express();
const gateway = gatewayErrors({ brand: { name: 'Acme Weather' } });
app.use(gateway);

app.get('/weather', async (req, res) => {
  // Express 5 hands a rejected promise to the error handlers; on Express 4 wrap this in try/catch and call next(err).
  const upstream = await fetch(weatherUrl, { signal: AbortSignal.timeout(timeoutMs) });
  if ([502, 503, 504].includes(upstream.status)) {
    const retryAfter = upstream.headers.get('retry-after');
    if (retryAfter !== null) res.set('retry-after', retryAfter); // kept when valid, dropped when not
    res.sendStatus(upstream.status); // gatewayErrors() replaces this with the branded answer
    return;
  }
  if (!upstream.ok) {
    res.status(upstream.status).json({ error: `weather service answered ${upstream.status}` });
    return;
  }
  res.json({ weather: await upstream.json() });
});

app.get('/bug', () => {
  throw new Error('a bug, not an upstream failure');
});

app.use(gateway.errorHandler); // upstream failures -> 502/503/504; everything else -> next(err)
app.use((err, req, res, next) => {
  res.status(500).json({ error: 'internal error' });
});

const server = app.listen(port, '127.0.0.1', () => {
  console.log(`fetch-in-route listening on http://127.0.0.1:${server.address().port}, calling ${weatherUrl}`);
});
