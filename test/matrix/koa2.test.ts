/**
 * The shared scenario suite against Koa 2 (installed side by side as `koa2`), so users who have
 * not moved to Koa 3 get exactly the contract.
 */
import { koaMount } from '../support/apps.js';
import { closedPort } from '../support/fault-kit.js';
import { describeGateway } from '../e2e/scenarios.js';

const refused = async (): Promise<never> => {
  const port = await closedPort();
  await fetch(`http://127.0.0.1:${port}/`);
  throw new Error('expected fetch to fail');
};

describeGateway('Koa 2', koaMount('koa2', { refused }));
