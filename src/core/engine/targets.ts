/**
 * Several targets behind one gatewayProxy(): which one each attempt goes to, and which are fit.
 *
 * Balancing is the power of two choices on outstanding requests, weighted (Envoy's default
 * LEAST_REQUEST): two targets drawn at random by weight, the one with fewer requests in flight
 * per unit of weight wins. It needs no shared counter, spreads evenly at low traffic and steers
 * away from a slow or busy target at high traffic, where round-robin keeps feeding it.
 *
 * Health is Envoy's outlier detection, passive: a target whose attempts fail at the connection
 * level or with 502/503/504 `consecutiveFailures` times in a row is ejected for
 * `baseEjectionTime` times the number of its ejections (up to `maxEjectionTime`), and at most
 * `maxEjectionPercent` of the targets are ejected at once (always at least one, never a lone
 * target: nginx never marks the only server of a group down). When no target is fit, attempts go
 * to all of them (Envoy's panic routing) rather than fail everything. Optional active checks
 * (`healthCheck`) take a target out after `unhealthyThreshold` failed probes and bring it back,
 * ejected or not, after `healthyThreshold` good ones, without a user's request being the probe.
 */
import http from 'node:http';
import https from 'node:https';
import type { Emitter } from '../observe/events.js';
import { parseTarget, type LegacyUrl } from './outgoing.js';
import type { Verdict } from './circuit.js';
import type { NormalizedHealthCheck, NormalizedOutlier } from '../proxy-options.js';

/** A target's state, as `proxy.state()` reports it. */
export interface TargetState {
  readonly url: string;
  readonly weight: number;
  /** Attempts in flight. */
  readonly active: number;
  /** Not ejected and not failing its active checks: it gets traffic (unless every target is unfit). */
  readonly healthy: boolean;
  /** Ejected by outlier detection, until this time (ISO 8601). */
  readonly ejectedUntil?: string;
  /** Times ejected so far. */
  readonly ejections: number;
  /** Failed attempts in a row. */
  readonly consecutiveFailures: number;
  /** The active checks' verdict, when they run. */
  readonly check?: 'healthy' | 'unhealthy' | 'unknown';
}

export class Target {
  readonly legacy: LegacyUrl;
  active = 0;
  consecutive = 0;
  ejections = 0;
  ejectedUntil = 0;
  checkDown = false;
  checkKnown = false;
  private checkRun = 0;
  returnTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly url: string,
    readonly weight: number,
  ) {
    this.legacy = parseTarget(url);
  }

  fit(now: number): boolean {
    return this.ejectedUntil <= now && !this.checkDown;
  }

  /** A probe's result: the number of the same results in a row. */
  probed(ok: boolean): number {
    this.checkKnown = true;
    this.checkRun = ok === this.checkRun > 0 ? this.checkRun + (ok ? 1 : -1) : ok ? 1 : -1;
    return Math.abs(this.checkRun);
  }
}


export class TargetSet {
  readonly targets: readonly Target[];
  private readonly totalWeight: number;
  private checkTimer: NodeJS.Timeout | undefined;
  private readonly agents = { http: new http.Agent({ keepAlive: false }), https: new https.Agent({ keepAlive: false }) };

  constructor(
    specs: readonly { url: string; weight: number }[],
    private readonly name: string,
    private readonly outlier: NormalizedOutlier | false,
    private readonly check: NormalizedHealthCheck | undefined,
    private readonly emit: Emitter,
    private readonly random: () => number = Math.random,
  ) {
    this.targets = specs.map((s) => new Target(s.url, s.weight));
    this.totalWeight = this.targets.reduce((n, t) => n + t.weight, 0);
    if (check !== undefined) this.startChecks(check);
  }

  /**
   * The target for the next attempt: a fit one not yet tried by this request (nginx's
   * proxy_next_upstream, Envoy's previous_hosts), else an untried unfit one, else a fit one
   * again, else any (panic).
   */
  pick(tried: ReadonlySet<Target> | undefined): Target {
    const { targets } = this;
    if (targets.length === 1) return targets[0]!;
    const now = Date.now();
    let pool = targets.filter((t) => t.fit(now) && !tried?.has(t));
    if (pool.length === 0 && tried !== undefined) pool = targets.filter((t) => !tried.has(t));
    if (pool.length === 0) pool = targets.filter((t) => t.fit(now));
    if (pool.length === 0) pool = targets as Target[];
    if (pool.length === 1) return pool[0]!;
    const a = this.draw(pool, undefined);
    const b = this.draw(pool, a);
    return a.active * b.weight <= b.active * a.weight ? a : b;
  }

  /** Whether a fit target this request has not tried is left. */
  hasUntried(tried: ReadonlySet<Target> | undefined): boolean {
    const now = Date.now();
    return this.targets.some((t) => t.fit(now) && !tried?.has(t));
  }

  /** One target drawn by weight, other than `not`. */
  private draw(pool: readonly Target[], not: Target | undefined): Target {
    const total = (pool === this.targets ? this.totalWeight : pool.reduce((n, t) => n + t.weight, 0)) - (not?.weight ?? 0);
    let x = this.random() * total;
    for (const t of pool) {
      if (t === not) continue;
      x -= t.weight;
      if (x < 0) return t;
    }
    return pool[pool.length - 1] === not ? pool[pool.length - 2]! : pool[pool.length - 1]!;
  }

  /** An attempt to `t` ended: count it for outlier detection. */
  settled(t: Target, verdict: Verdict): void {
    t.active--;
    if (verdict === 'success') t.consecutive = 0;
    else if (verdict === 'failure') {
      t.consecutive++;
      if (this.outlier !== false && t.consecutive >= this.outlier.consecutiveFailures) this.eject(t, this.outlier);
    }
  }

  private eject(t: Target, o: NormalizedOutlier): void {
    const now = Date.now();
    if (this.targets.length === 1 || !t.fit(now)) return;
    const ejected = this.targets.filter((x) => x.ejectedUntil > now).length;
    if (ejected >= Math.max(1, Math.floor((this.targets.length * o.maxEjectionPercent) / 100))) return;
    t.ejections++;
    t.consecutive = 0;
    const ms = Math.min(o.baseEjectionTime * t.ejections, Math.max(o.baseEjectionTime, o.maxEjectionTime));
    t.ejectedUntil = now + ms;
    this.emit.targetEject({ upstream: this.name, target: t.url, reason: 'consecutive_failures', until: new Date(t.ejectedUntil).toISOString(), ejections: t.ejections });
    clearTimeout(t.returnTimer);
    t.returnTimer = setTimeout(() => {
      t.returnTimer = undefined;
      if (!t.checkDown) this.emit.targetReturn({ upstream: this.name, target: t.url, reason: 'ejection_ended' });
    }, ms);
    t.returnTimer.unref();
  }

  private startChecks(c: NormalizedHealthCheck): void {
    const round = () => {
      for (const t of this.targets) this.probe(t, c);
    };
    this.checkTimer = setInterval(round, c.interval);
    this.checkTimer.unref();
    round();
  }

  private probe(t: Target, c: NormalizedHealthCheck): void {
    const url = new URL(c.path, t.url);
    const secure = url.protocol === 'https:';
    let done = false;
    const result = (ok: boolean) => {
      if (done) return;
      done = true;
      const run = t.probed(ok);
      if (!ok && !t.checkDown && run >= c.unhealthyThreshold) {
        t.checkDown = true;
        this.emit.targetEject({ upstream: this.name, target: t.url, reason: 'health_check', ejections: t.ejections });
      } else if (ok && run >= c.healthyThreshold && (t.checkDown || t.ejectedUntil > Date.now())) {
        // A good check brings a target back, ejected by its failures or by earlier checks (Envoy's
        // successful_active_health_check_uneject_host).
        t.checkDown = false;
        t.ejectedUntil = 0;
        t.consecutive = 0;
        clearTimeout(t.returnTimer);
        this.emit.targetReturn({ upstream: this.name, target: t.url, reason: 'health_check' });
      }
    };
    // The status is the verdict: the body is not read, and the whole probe has `timeout` ms
    // (Node's own `timeout` is per silence, which a trickling body would keep renewing).
    const timer = setTimeout(() => req.destroy(new Error('health check timed out')), c.timeout);
    const req = (secure ? https : http).get(url, { agent: secure ? this.agents.https : this.agents.http }, (res) => {
      clearTimeout(timer);
      result((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 400);
      res.destroy();
    });
    req.on('error', () => {
      clearTimeout(timer);
      result(false);
    });
  }

  state(): TargetState[] {
    const now = Date.now();
    return this.targets.map((t) => ({
      url: t.url,
      weight: t.weight,
      active: t.active,
      healthy: t.fit(now),
      ...(t.ejectedUntil > now && { ejectedUntil: new Date(t.ejectedUntil).toISOString() }),
      ejections: t.ejections,
      consecutiveFailures: t.consecutive,
      ...(this.check !== undefined && { check: t.checkKnown ? (t.checkDown ? ('unhealthy' as const) : ('healthy' as const)) : ('unknown' as const) }),
    }));
  }

  /** Stop the active checks and the return timers (the app is shutting down). */
  close(): void {
    clearInterval(this.checkTimer);
    for (const t of this.targets) clearTimeout(t.returnTimer);
    this.agents.http.destroy();
    this.agents.https.destroy();
  }
}
