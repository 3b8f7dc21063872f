import { koaMount } from '../support/apps.js';
import { closedPort } from '../support/fault-kit.js';
import { describeResilience } from './resilience.js';
import { describeGateway } from './scenarios.js';

const refused = async (): Promise<never> => {
  const port = await closedPort();
  await fetch(`http://127.0.0.1:${port}/`);
  throw new Error('expected fetch to fail');
};

describeGateway('Koa 3', koaMount('koa', { refused }));

describeResilience('Koa 3', koaMount('koa'));
