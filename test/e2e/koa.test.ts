import { koaMount } from '../support/apps.js';
import { describeResilience } from './resilience.js';
import { describeGateway } from './scenarios.js';

describeGateway('Koa 3', koaMount('koa'));
describeResilience('Koa 3', koaMount('koa'));
