import { describe, expect, it } from "vitest";
import { UpstreamHealth } from "./upstream-health.ts";

describe("UpstreamHealth", () => {
  it("is unknown before any answer, reachable after one, unreachable from the first failure on", () => {
    let now = Date.parse("2026-06-01T12:00:00Z");
    const h = new UpstreamHealth({ now: () => now });
    expect(h.snapshot()).toMatchObject({
      reachability: "unknown",
      lastSuccessAt: null,
      unreachableSince: null,
    });
    h.success();
    expect(h.snapshot().reachability).toBe("reachable");
    now += 60_000;
    h.failure("upstream x unreachable (ECONNREFUSED)");
    now += 60_000;
    h.failure("upstream x timed out");
    // unreachable since the first failure after the last answer, not the latest one
    expect(h.snapshot()).toEqual({
      reachability: "unreachable",
      lastSuccessAt: "2026-06-01T12:00:00.000Z",
      lastFailureAt: "2026-06-01T12:02:00.000Z",
      unreachableSince: "2026-06-01T12:01:00.000Z",
      lastError: "upstream x timed out",
    });
    expect(h.sinceSuccessMs()).toBe(120_000);
    h.success();
    expect(h.snapshot()).toMatchObject({ reachability: "reachable", unreachableSince: null });
    h.fetched(512);
    h.fetched(100);
    expect(h.manifestBytes).toBe(612);
  });
});
