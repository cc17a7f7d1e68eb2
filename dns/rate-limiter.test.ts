import { describe, expect, it } from "vitest";
import { createRateLimiter } from "./rate-limiter.ts";

describe("createRateLimiter", () => {
  it("allows a burst, then refills at the rate", () => {
    let t = 0;
    const limiter = createRateLimiter({ ratePerSecond: 4, now: () => t });
    const first = Array.from({ length: 6 }, () => limiter.take("a"));
    expect(first).toEqual([true, true, true, true, false, false]);
    t = 250; // one token back
    expect([limiter.take("a"), limiter.take("a")]).toEqual([true, false]);
    t = 10_000; // never more than the burst
    expect(Array.from({ length: 5 }, () => limiter.take("a")).filter(Boolean)).toHaveLength(4);
  });

  it("keeps one bucket per client", () => {
    const limiter = createRateLimiter({ ratePerSecond: 1, now: () => 0 });
    expect([limiter.take("a"), limiter.take("a"), limiter.take("b")]).toEqual([true, false, true]);
  });

  it("is off at rate 0", () => {
    const limiter = createRateLimiter({ ratePerSecond: 0 });
    expect(Array.from({ length: 1000 }, () => limiter.take("a")).every(Boolean)).toBe(true);
  });

  it("past maxKeys forgets clients whose bucket is full again, but not those still limited", () => {
    let t = 0;
    const limiter = createRateLimiter({ ratePerSecond: 1, maxKeys: 2, now: () => t });
    limiter.take("a");
    limiter.take("b");
    t = 500; // half a token back: neither bucket is full, so neither may be forgotten
    limiter.take("c");
    expect(limiter.take("a")).toBe(false);
    t = 5000; // all full: adding "d" prunes them, and "a" starts afresh
    limiter.take("d");
    expect([limiter.take("a"), limiter.take("a")]).toEqual([true, false]);
  });
});
