// Per-upstream circuit breaker: after repeated failures, or a 429 with Retry-After, requests fail
// fast instead of each waiting for the full upstream timeout. One trial request is let through
// when the pause ends (half-open); its success closes the breaker.

export type BreakerState = "closed" | "open" | "half-open";

export interface BreakerOptions {
  /** Consecutive failures that open the breaker. */
  threshold?: number;
  /** First pause; doubles on every failure while open, up to maxPauseMs. */
  basePauseMs?: number;
  maxPauseMs?: number;
  now?: () => number;
}

export class CircuitBreaker {
  #failures = 0;
  #openUntil = 0;
  #pauseMs: number;
  #trialInFlight = false;
  readonly #threshold: number;
  readonly #basePauseMs: number;
  readonly #maxPauseMs: number;
  readonly #now: () => number;
  lastError: string | undefined;

  constructor(opts: BreakerOptions = {}) {
    this.#threshold = opts.threshold ?? 3;
    this.#basePauseMs = opts.basePauseMs ?? 5_000;
    this.#maxPauseMs = opts.maxPauseMs ?? 60_000;
    this.#pauseMs = this.#basePauseMs;
    this.#now = opts.now ?? Date.now;
  }

  get state(): BreakerState {
    if (this.#openUntil === 0) return "closed";
    return this.#now() < this.#openUntil ? "open" : "half-open";
  }

  /** Milliseconds until a request may be tried again (0 when allowed now). */
  retryAfterMs(): number {
    return Math.max(0, this.#openUntil - this.#now());
  }

  /** May a request go upstream now? In half-open state only one trial at a time. */
  allow(): boolean {
    const state = this.state;
    if (state === "closed") return true;
    if (state === "open" || this.#trialInFlight) return false;
    this.#trialInFlight = true;
    return true;
  }

  success(): void {
    this.#failures = 0;
    this.#openUntil = 0;
    this.#pauseMs = this.#basePauseMs;
    this.#trialInFlight = false;
    this.lastError = undefined;
  }

  failure(reason: string): void {
    this.lastError = reason;
    this.#trialInFlight = false;
    this.#failures++;
    if (this.#failures >= this.#threshold || this.#openUntil !== 0) {
      this.#openUntil = this.#now() + this.#pauseMs;
      this.#pauseMs = Math.min(this.#maxPauseMs, this.#pauseMs * 2);
    }
  }

  /** The upstream asked us to wait (429 Retry-After): open for exactly that long. */
  pauseFor(ms: number, reason: string): void {
    this.lastError = reason;
    this.#trialInFlight = false;
    this.#openUntil = Math.max(this.#openUntil, this.#now() + ms);
  }
}

/** Retry-After as seconds or an HTTP date (RFC 9110 10.2.3); milliseconds, default when absent. */
export function parseRetryAfter(value: string | undefined, now: number, fallbackMs = 10_000): number {
  if (!value) return fallbackMs;
  if (/^\d+$/.test(value.trim())) return Math.min(Number(value) * 1000, 3_600_000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? fallbackMs : Math.min(Math.max(0, date - now), 3_600_000);
}
