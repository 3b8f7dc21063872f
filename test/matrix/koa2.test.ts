/**
 * The shared scenario and resilience suites against Koa 2 (installed side by side as `koa2`), so
 * users who have not moved to Koa 3 get exactly the contract.
 */
import { koaMount } from '../support/apps.js';
import { describeResilience } from '../e2e/resilience.js';
import { describeGateway } from '../e2e/scenarios.js';

describeGateway('Koa 2', koaMount('koa2'));
describeResilience('Koa 2', koaMount('koa2'));
