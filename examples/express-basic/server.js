// An Express gateway: branded 502/503/504 answers and safe retries in front of one upstream.
//
//   UPSTREAM=http://127.0.0.1:4000 PORT=3000 node examples/express-basic/server.js
//
// With nothing listening on UPSTREAM, http://127.0.0.1:3000/api/anything shows the branded
// 502 page (connection refused, after two retries). Start any server on UPSTREAM to see it proxied.
import express from 'express';
import { gatewayErrors, gatewayProxy } from 'gateway-errors/express';

const upstream = process.env.UPSTREAM ?? 'http://127.0.0.1:4000';
const port = Number(process.env.PORT ?? 3000);

const app = express();
const gateway = gatewayErrors({ brand: { name: 'Acme', support: 'help@acme.example' } });

app.use(gateway); // first: brands every 502/503/504 produced after it
app.use('/api', gatewayProxy({ target: upstream })); // default policy: 2 retries for idempotent requests
app.get('/', (req, res) => {
  res.type('text').send('Try /api/anything: it is proxied to ' + upstream + '\n');
});
app.use(gateway.errorHandler); // last: maps thrown upstream failures

const server = app.listen(port, '127.0.0.1', () => {
  console.log(`express-basic listening on http://127.0.0.1:${server.address().port}, proxying /api to ${upstream}`);
});
