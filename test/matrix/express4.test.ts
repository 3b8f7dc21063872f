/**
 * The shared scenario suite against Express 4 (installed side by side as `express4`), so users
 * who have not moved to Express 5 get exactly the contract.
 */
import { expressMount } from '../support/apps.js';
import { closedPort } from '../support/fault-kit.js';
import { describeGateway } from '../e2e/scenarios.js';

const refused = async (): Promise<never> => {
  const port = await closedPort();
  await fetch(`http://127.0.0.1:${port}/`);
  throw new Error('expected fetch to fail');
};

describeGateway('Express 4', expressMount('express4', { refused }));
