import { expressMount } from '../support/apps.js';
import { describeResilience } from './resilience.js';
import { describeGateway } from './scenarios.js';

describeGateway('Express 5', expressMount('express'));
describeResilience('Express 5', expressMount('express'));
