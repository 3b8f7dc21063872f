// One gateway, a retry policy per route: search is retried hard, payments never, uploads are
// retried only when small enough to replay from memory, and the rest decides per request.
//
//   UPSTREAM=http://127.0.0.1:4000 PORT=3000 node examples/per-route-policies/server.js
import express from 'express';
import { gatewayErrors, gatewayProxy } from 'gateway-errors/express';

const upstream = process.env.UPSTREAM ?? 'http://127.0.0.1:4000';
const port = Number(process.env.PORT ?? 3000);

const app = express();
const gateway = gatewayErrors({ brand: { name: 'Acme' } });
app.use(gateway);

// Search is read-only and cheap: four retries, quick backoff, and an upstream Retry-After of
// up to 5 s is waited out rather than shown to the user.
app.use(
  '/api/search',
  gatewayProxy({ target: upstream, retry: { retries: 4, baseDelay: 50, maxDelay: 1000, maxRetryAfter: 5000 } }),
);

// Payments are never replayed, not even a PUT or a request with an Idempotency-Key: a charge
// that may have gone through is for the payment provider to reconcile, not for the gateway to repeat.
app.use('/api/payments', gatewayProxy({ target: upstream, retry: false, responseTimeout: 15_000 }));

// Uploads (PUT is idempotent) are retried only when the body fits the 64 KiB kept in memory to
// replay it; a larger body streams through to the upstream once and is not retried.
app.use('/api/uploads', gatewayProxy({ target: upstream, retry: { retries: 2, bodyLimit: 64 * 1024 } }));

// Everything else: the function form picks a policy per request (it gets Express's `req`).
const batch = { retries: 1 }; // return the same object each time: it is validated once, then cached
app.use(
  '/api',
  gatewayProxy({
    target: upstream,
    retry: (req) => (req.get('x-no-retry') !== undefined ? false : req.query.batch !== undefined ? batch : {}),
  }),
);

app.use(gateway.errorHandler);

const server = app.listen(port, '127.0.0.1', () => {
  console.log(`per-route-policies listening on http://127.0.0.1:${server.address().port}, proxying /api to ${upstream}`);
});
