/**
 * The ES module and CommonJS copies of the built package in one process, with a real
 * MeterProvider: they record into one set of instruments, so the counts are the sum of both
 * copies' requests (two sets would each report their own count for the same observable counter,
 * and the SDK would keep one). The scope carries the package's version.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const built = existsSync(fileURLToPath(new URL('../../dist/express/index.cjs', import.meta.url)));
const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

describe.skipIf(!built)('both copies of the built package with an SDK (in a child process)', () => {
  it('counts the requests of both copies once each, under one scope with the package version', async () => {
    const { stdout } = await run(process.execPath, [fileURLToPath(new URL('./fixtures/otel-two-copies.cjs', import.meta.url))], { timeout: 15_000 });
    expect(JSON.parse(stdout.trim().split('\n').pop()!)).toEqual({
      copies: true,
      statuses: [200, 200, 200, 200, 200],
      scopes: [version],
      metrics: {
        'gateway_errors.requests': [5],
        'gateway_errors.attempts': [5],
        'gateway_errors.request.duration': [5],
        'gateway_errors.attempt.duration': [5],
        'gateway_errors.circuit.state': [0],
      },
    });
  });
});
