/**
 * ONE scenario suite for every adapter: each case builds a real app in front of the real fault-kit
 * upstream and asserts the whole answer — status, Proxy-Status, Retry-After, content type, body —
 * and how many attempts the upstream saw. The cases live by topic under scenarios/.
 */
import { describe } from 'vitest';
import type { Adapter } from '../support/apps.js';
import { useGatewayFixture } from '../support/gateway-fixture.js';
import { describeAnswer } from './scenarios/answer.js';
import { scenarioContext } from './scenarios/context.js';
import { describeFailureMapping } from './scenarios/failure-mapping.js';
import { describeHealthyUpstream } from './scenarios/healthy.js';
import { describeHpmOptions } from './scenarios/hpm-options.js';
import { describeRawFaults } from './scenarios/raw-faults.js';
import { describeRetries } from './scenarios/retries.js';

export function describeGateway({ name, mount }: Adapter): void {
  describe(`gateway on ${name}`, () => {
    const context = scenarioContext(useGatewayFixture(mount, 't'));
    describeHealthyUpstream(context);
    describeFailureMapping(context);
    describeRetries(context);
    describeHpmOptions(context);
    describeAnswer(context);
    describeRawFaults(context);
  });
}
