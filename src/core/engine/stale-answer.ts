/**
 * Asking `stale` for the last good copy in place of the error answer, with a bound on the wait:
 * a store that does not answer within 2 s (or by the deadline, if that comes first) is a miss,
 * so the client gets the error answer then, never left waiting on a cache. A copy that comes
 * later finds the answer sent and stays home.
 */
import type { StaleCache, StaleRequest } from './stale.js';

/** ms a `stale.store` may take to answer. */
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
  const wait = deadlineAt > 0 ? Math.min(STORE_WAIT, Math.max(100, deadlineAt - Date.now())) : STORE_WAIT;
  const timer = setTimeout(() => decide(false), wait);
  const settle = (ok: boolean): void => {
    clearTimeout(timer);
    decide(ok);
  };
  served.then(settle, () => settle(false));
}
