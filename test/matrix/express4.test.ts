/**
 * The shared scenario and resilience suites against Express 4 (installed side by side as
 * `express4`), so users who have not moved to Express 5 get exactly the contract.
 */
import { adapterNamed } from '../support/apps.js';
import { describeResilience } from '../e2e/resilience.js';
import { describeGateway } from '../e2e/scenarios.js';

describeGateway(adapterNamed('Express 4'));
describeResilience(adapterNamed('Express 4'));
