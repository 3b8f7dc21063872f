/**
 * A retry budget: retries may add at most `ratio` of the requests seen in a sliding window, plus
 * a floor of `minPerSecond` so low traffic can still retry. While an upstream fails everything,
 * attempts per request stay near 1 + ratio instead of 1 + retries — retries stop multiplying the
 * load exactly when the upstream can least take it.
 *
 * The shape is Finagle's RetryBudget (deposit per request, withdraw per retry, over a TTL window);
 * Envoy's retry_budget and the SRE book's per-client 10% make the same point.
 * @see https://twitter.github.io/finagle/guide/Clients.html#retries
 * @see https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/cluster/v3/circuit_breaker.proto
 */

export class RetryBudget {
  private readonly requests: Int32Array;
  private readonly retries: Int32Array;
  private readonly slots: number;
  private slot = 0;
  private slotStart: number;
  private reqTotal = 0;
  private retryTotal = 0;

  constructor(
    private readonly ratio: number,
    private readonly minPerSecond: number,
    window: number,
    private readonly now: () => number = Date.now,
  ) {
    this.slots = Math.max(1, Math.ceil(window / 1000));
    this.requests = new Int32Array(this.slots);
    this.retries = new Int32Array(this.slots);
    this.slotStart = now();
  }

  /** Move the window to now, dropping buckets older than the window. */
  private advance(): void {
    const t = this.now();
    let steps = Math.floor((t - this.slotStart) / 1000);
    if (steps <= 0) return;
    this.slotStart += steps * 1000;
    if (steps > this.slots) steps = this.slots;
    for (let i = 0; i < steps; i++) {
      this.slot = (this.slot + 1) % this.slots;
      this.reqTotal -= this.requests[this.slot]!;
      this.retryTotal -= this.retries[this.slot]!;
      this.requests[this.slot] = 0;
      this.retries[this.slot] = 0;
    }
  }

  /** Count a client request (its first attempt). */
  deposit(): void {
    this.advance();
    this.requests[this.slot]!++;
    this.reqTotal++;
  }

  /** Whether one more retry fits in the budget. */
  hasRoom(): boolean {
    this.advance();
    return this.retryTotal + 1 <= this.ratio * this.reqTotal + this.minPerSecond * this.slots;
  }

  /** Count a retry (after hasRoom() said it fits). */
  withdraw(): void {
    this.advance();
    this.retries[this.slot]!++;
    this.retryTotal++;
  }
}
