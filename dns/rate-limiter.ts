// Per-client token buckets: each client IP may send `ratePerSecond` queries per second on average,
// with bursts up to `burst`. Spoofed floods then cannot turn the responder into an amplifier, and
// one noisy client cannot starve the others.

export interface RateLimiter {
  /** Takes one token for `key`; false when its bucket is empty (the query should be dropped). */
  take(key: string): boolean;
}

interface Bucket {
  tokens: number;
  updatedAt: number;
}

export function createRateLimiter(opts: {
  /** 0 turns limiting off. */
  ratePerSecond: number;
  burst?: number;
  /** Milliseconds from a monotonic clock; injectable for tests. */
  now?: () => number;
  /** Bound on remembered clients; past it, full (idle) buckets are forgotten. */
  maxKeys?: number;
}): RateLimiter {
  const rate = opts.ratePerSecond;
  if (rate <= 0) return { take: () => true };
  const burst = Math.max(1, opts.burst ?? rate);
  const now = opts.now ?? (() => performance.now());
  const maxKeys = opts.maxKeys ?? 10_000;
  const buckets = new Map<string, Bucket>();

  function refill(bucket: Bucket, t: number): void {
    bucket.tokens = Math.min(burst, bucket.tokens + ((t - bucket.updatedAt) / 1000) * rate);
    bucket.updatedAt = t;
  }

  function prune(t: number): void {
    for (const [key, bucket] of buckets) {
      refill(bucket, t);
      if (bucket.tokens >= burst) buckets.delete(key);
    }
  }

  return {
    take(key: string): boolean {
      const t = now();
      let bucket = buckets.get(key);
      if (!bucket) {
        if (buckets.size >= maxKeys) prune(t);
        bucket = { tokens: burst, updatedAt: t };
        buckets.set(key, bucket);
      } else {
        refill(bucket, t);
      }
      if (bucket.tokens < 1) return false;
      bucket.tokens -= 1;
      return true;
    },
  };
}
