// Docker Hub's pull allowance, from the ratelimit-limit / ratelimit-remaining headers it sends
// ("100;w=21600": 100 pulls per 21600 s window), kept per registry and credential.

export interface RateLimitState {
  registry: string;
  account: string;
  limit: number | undefined;
  remaining: number | undefined;
  windowSeconds: number | undefined;
  observedAt: number;
}

function parseQuota(value: string | undefined): { n: number | undefined; w: number | undefined } {
  if (!value) return { n: undefined, w: undefined };
  const [n, ...params] = value.split(";");
  const w = params.map((p) => /^\s*w=(\d+)/.exec(p)?.[1]).find(Boolean);
  const num = Number.parseInt(n ?? "", 10);
  return { n: Number.isNaN(num) ? undefined : num, w: w ? Number(w) : undefined };
}

export class RateLimits {
  readonly #states = new Map<string, RateLimitState>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  record(
    registry: string,
    account: string | undefined,
    sample: { limit?: string; remaining?: string },
  ): void {
    const l = parseQuota(sample.limit);
    const r = parseQuota(sample.remaining);
    const acct = account ?? "anonymous";
    this.#states.set(`${registry}|${acct}`, {
      registry,
      account: acct,
      limit: l.n,
      remaining: r.n,
      windowSeconds: r.w ?? l.w,
      observedAt: this.#now(),
    });
  }

  get(registry: string, account: string | undefined): RateLimitState | undefined {
    return this.#states.get(`${registry}|${account ?? "anonymous"}`);
  }

  /** True when the last known allowance is at or below `reserve` (and still within its window). */
  isLow(registry: string, account: string | undefined, reserve: number): boolean {
    const s = this.get(registry, account);
    if (!s || s.remaining === undefined) return false;
    const windowMs = (s.windowSeconds ?? 21600) * 1000;
    if (this.#now() - s.observedAt > windowMs) return false;
    return s.remaining <= reserve;
  }

  all(): RateLimitState[] {
    return [...this.#states.values()];
  }
}
