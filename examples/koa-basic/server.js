// A Koa gateway: branded 502/503/504 answers and safe retries in front of one upstream.
//
//   UPSTREAM=http://127.0.0.1:4000 PORT=3000 node examples/koa-basic/server.js
//
// With nothing listening on UPSTREAM, http://127.0.0.1:3000/api/anything shows the branded
// 502 page (connection refused, after two retries). Start any server on UPSTREAM to see it proxied.
import Koa from 'koa';
import { gatewayErrors, gatewayProxy } from 'gateway-errors/koa';

const upstream = process.env.UPSTREAM ?? 'http://127.0.0.1:4000';
const port = Number(process.env.PORT ?? 3000);

const app = new Koa();
app.use(gatewayErrors({ brand: { name: 'Acme', support: 'help@acme.example' } })); // first
app.use(
  gatewayProxy({
    target: upstream,
    pathFilter: '/api', // only /api/... is proxied; everything else falls through
    pathRewrite: { '^/api': '' },
    retry: { retries: 2 },
  }),
);
app.use((ctx) => {
  ctx.body = `Try /api/anything: it is proxied to ${upstream}\n`;
});

const server = app.listen(port, '127.0.0.1', () => {
  console.log(`koa-basic listening on http://127.0.0.1:${server.address().port}, proxying /api to ${upstream}`);
});
