/**
 * Asking `stale` for the last good copy in place of the error answer, with a bound on the wait:
 * a store that does not answer is a miss, so the client gets the error answer by the deadline
 * (or in 2 s), never a client left waiting. A copy that comes later finds the answer sent and
 * stays home.
 */
import type { StaleCache, StaleRequest } from './stale.js';

/** ms a `stale.store` may take to answer when the request has no deadline. */
const STORE_WAIT = 2000;

/** `after(served)` runs once: with the store's answer, or with false when it is not in time. */
export function askStale(
  stale: StaleCache,
  r: Omit<StaleRequest, 'gone'>,
  clientGone: () => boolean,
  deadlineAt: number,
  after: (served: boolean) => void,
): void {
  let decided = false;
  const decide = (served: boolean): void => {
    if (decided) return;
    decided = true;
    after(served);
  };
  const served = stale.answer({ ...r, gone: () => clientGone() || decided });
  if (typeof served === 'boolean') return decide(served);
  const timer = setTimeout(() => decide(false), deadlineAt > 0 ? Math.max(100, deadlineAt - Date.now()) : STORE_WAIT);
  const settle = (ok: boolean): void => {
    clearTimeout(timer);
    decide(ok);
  };
  served.then(settle, () => settle(false));
}
