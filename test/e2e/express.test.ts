import { expressMount } from '../support/apps.js';
import { closedPort } from '../support/fault-kit.js';
import { describeResilience } from './resilience.js';
import { describeGateway } from './scenarios.js';

const refused = async (): Promise<never> => {
  const port = await closedPort();
  await fetch(`http://127.0.0.1:${port}/`);
  throw new Error('expected fetch to fail');
};

describeGateway('Express 5', expressMount('express', { refused }));

describeResilience('Express 5', expressMount('express'));
