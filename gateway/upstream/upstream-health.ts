// What wharf has seen of one upstream: when it last answered, when it last failed and since when it
// has been failing, and how many manifest bytes came from it. Fed by UpstreamClient on every real
// request and by the periodic probe (upstream-probe.ts), so a registry served entirely from cache
// still shows whether its upstream is there. Pure: the clock is passed in.

export type UpstreamReachability = "reachable" | "unreachable" | "unknown";

export interface UpstreamHealthSnapshot {
  reachability: UpstreamReachability;
  /** ISO times; null when never seen. */
  lastSuccessAt: string | null;
  lastFailureAt: string | null;
  /** The first failure after the last success: how long cached content has stood in for it. */
  unreachableSince: string | null;
  lastError: string | null;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export class UpstreamHealth {
  #lastSuccess: number | null = null;
  #lastFailure: number | null = null;
  #failingSince: number | null = null;
  #lastError: string | null = null;
  /** Manifest bytes read from upstream (blob bytes are counted as they reach clients and fills). */
  manifestBytes = 0;
  readonly #now: () => number;

  constructor(opts: { now?: () => number } = {}) {
    this.#now = opts.now ?? Date.now;
  }

  /** The upstream answered (any status below 500: it is there, whatever it thought of the request). */
  success(): void {
    this.#lastSuccess = this.#now();
    this.#failingSince = null;
  }

  /** No answer, or a 5xx. */
  failure(reason: string): void {
    const now = this.#now();
    this.#lastFailure = now;
    this.#lastError = reason;
    this.#failingSince ??= now;
  }

  fetched(bytes: number): void {
    this.manifestBytes += bytes;
  }

  /** Milliseconds since the upstream last answered; null when it never has. */
  sinceSuccessMs(): number | null {
    return this.#lastSuccess === null ? null : this.#now() - this.#lastSuccess;
  }

  snapshot(): UpstreamHealthSnapshot {
    const reachability: UpstreamReachability =
      this.#failingSince !== null ? "unreachable" : this.#lastSuccess !== null ? "reachable" : "unknown";
    return {
      reachability,
      lastSuccessAt: iso(this.#lastSuccess),
      lastFailureAt: iso(this.#lastFailure),
      unreachableSince: iso(this.#failingSince),
      lastError: this.#lastError,
    };
  }
}
