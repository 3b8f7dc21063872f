import { adapterNamed } from '../support/apps.js';
import { describeResilience } from './resilience.js';
import { describeGateway } from './scenarios.js';

describeGateway(adapterNamed('Express 5'));
describeResilience(adapterNamed('Express 5'));
