import { describe, expect, it } from "vitest";
import { CircuitBreaker, parseRetryAfter } from "./circuit-breaker.ts";

describe("CircuitBreaker", () => {
  it("opens after repeated failures, lets one trial through, closes on success", () => {
    let now = 0;
    const b = new CircuitBreaker({ threshold: 2, basePauseMs: 1000, now: () => now });
    b.failure("ECONNREFUSED");
    expect(b.allow()).toBe(true);
    b.failure("ECONNREFUSED");
    expect(b.state).toBe("open");
    expect(b.allow()).toBe(false);
    now = 1000;
    expect(b.allow()).toBe(true);
    expect(b.allow()).toBe(false);
    b.failure("again");
    expect(b.retryAfterMs()).toBe(2000);
    now = 3000;
    expect(b.allow()).toBe(true);
    b.success();
    expect(b.state).toBe("closed");
  });
  it("pauses for Retry-After", () => {
    let now = 0;
    const b = new CircuitBreaker({ now: () => now });
    b.pauseFor(parseRetryAfter("7", now), "429");
    expect(b.allow()).toBe(false);
    now = 7000;
    expect(b.allow()).toBe(true);
    expect(parseRetryAfter(new Date(60_000).toUTCString(), 0)).toBe(60_000);
    expect(parseRetryAfter(undefined, 0, 123)).toBe(123);
  });
});
