/**
 * The shared scenario and resilience suites against Koa 2 (installed side by side as `koa2`), so
 * users who have not moved to Koa 3 get exactly the contract.
 */
import { adapterNamed } from '../support/apps.js';
import { describeResilience } from '../e2e/resilience.js';
import { describeGateway } from '../e2e/scenarios.js';

describeGateway(adapterNamed('Koa 2'));
describeResilience(adapterNamed('Koa 2'));
