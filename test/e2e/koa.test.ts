import { adapterNamed } from '../support/apps.js';
import { describeResilience } from './resilience.js';
import { describeGateway } from './scenarios.js';

describeGateway(adapterNamed('Koa 3'));
describeResilience(adapterNamed('Koa 3'));
