import { describe, expect, it } from "vitest";
import { requestEvent } from "./request-event.test-support.ts";
import { bytesSaved, hitRatio, WharfStats } from "./wharf-stats.ts";

const ev = requestEvent;

describe("WharfStats", () => {
  it("separates bytes from the cache, from a shared fill and from upstream", () => {
    const s = new WharfStats();
    // Three builders want one 1000-byte layer at once: one fill, two clients join it.
    s.record(ev({ outcome: "miss", bytes: 1000 }));
    s.record(ev({ outcome: "coalesced", bytes: 1000 }));
    s.record(ev({ outcome: "coalesced", bytes: 1000 }));
    // Later pulls hit; a stale tag and a revalidated tag also come from the store.
    s.record(ev({ outcome: "hit", bytes: 1000 }));
    s.record(ev({ kind: "manifest", outcome: "revalidated", bytes: 500 }));
    s.record(ev({ kind: "manifest", outcome: "stale", bytes: 500 }));
    s.record(ev({ kind: "tags", outcome: "passthrough", bytes: 40 }));
    // a manifest miss: its bytes are counted where they are read upstream (UpstreamHealth)
    s.record(ev({ kind: "manifest", outcome: "miss", bytes: 700 }));
    const c = s.registry("docker.io");
    expect(c.requests).toBe(8);
    expect(c.bytesFetchedUpstream).toBe(1040);
    expect(c.bytesServedFromCache).toBe(2000);
    expect(c.bytesCoalesced).toBe(2000);
    expect(bytesSaved(c)).toBe(4000);
    expect(c.byKind).toEqual({
      blob: { miss: 1, coalesced: 2, hit: 1 },
      manifest: { revalidated: 1, stale: 1, miss: 1 },
      tags: { passthrough: 1 },
    });
    expect(c.hits).toBe(3);
    expect(c.misses).toBe(2);
    expect(c.coalesced).toBe(2);
    expect(hitRatio(c)).toBeCloseTo(3 / 7);
  });

  it("has no hit ratio before any cacheable request, and keeps registries apart", () => {
    const s = new WharfStats();
    expect(hitRatio(s.registry("ghcr.io"))).toBeNull();
    s.record(ev({ registry: "ghcr.io", outcome: "hit", bytes: 5 }));
    s.record(ev({ registry: "docker.io", outcome: "miss", bytes: 7 }));
    expect(hitRatio(s.registry("ghcr.io"))).toBe(1);
    expect(hitRatio(s.registry("docker.io"))).toBe(0);
    expect(s.registryNames().sort()).toEqual(["docker.io", "ghcr.io"]);
  });

  it("counts upstream errors by status and keeps the last 50 errors, newest first", () => {
    let t = Date.parse("2026-01-01T00:00:00Z");
    const s = new WharfStats({ now: () => t });
    s.record(ev({ outcome: "error", status: 429, errorCode: "TOOMANYREQUESTS" }));
    s.record(ev({ outcome: "error", status: 502, errorCode: "UPSTREAM_UNAVAILABLE" }));
    s.record(ev({ outcome: "error", status: 404, errorCode: "MANIFEST_UNKNOWN" }));
    expect(s.registry("docker.io").upstreamErrors).toEqual({ "429": 1, unavailable: 1 });
    expect(s.registry("docker.io").errors).toBe(3);
    for (let i = 0; i < 60; i++) {
      t += 1000;
      s.record(ev({ outcome: "error", status: 504, errorCode: "UPSTREAM_TIMEOUT", reference: `t${i}` }));
    }
    const recent = s.recentErrors();
    expect(recent).toHaveLength(50);
    expect(recent[0]?.reference).toBe("t59");
    expect(recent[0]?.at).toBe(new Date(t).toISOString());
    expect(recent[49]?.reference).toBe("t10");
  });

  it("counts requests without a registry apart, and records errors for them", () => {
    const s = new WharfStats();
    s.record(ev({ registry: undefined, repository: undefined, kind: "base", outcome: "hit", bytes: 2 }));
    s.record(
      ev({
        registry: undefined,
        repository: undefined,
        kind: "other",
        outcome: "error",
        status: 404,
        errorCode: "NOT_FOUND",
      }),
    );
    expect(s.otherRequests).toBe(2);
    expect(s.registryNames()).toEqual([]);
    expect(s.recentErrors()[0]).toMatchObject({ registry: null, kind: "other", errorCode: "NOT_FOUND" });
  });

  it("ranks repositories and stays bounded when clients invent names", () => {
    const s = new WharfStats();
    for (let i = 0; i < 5; i++) s.record(ev({ repository: "library/busy", bytes: 10 }));
    s.record(ev({ repository: "library/quiet", outcome: "miss", bytes: 99 }));
    for (let i = 0; i < 3000; i++) s.record(ev({ repository: `spam/r${i}` }));
    const top = s.topRepositories(2);
    expect(top[0]).toEqual({
      registry: "docker.io",
      repository: "library/busy",
      requests: 5,
      hits: 5,
      bytes: 50,
    });
    expect(top[1]?.requests).toBe(1);
    expect(s.topRepositories(5000).length).toBeLessThanOrEqual(1000);
  });

  it("totals fills", () => {
    const s = new WharfStats();
    s.recordFill({ bytes: 100, ok: true });
    s.recordFill({ bytes: 0, ok: false });
    expect(s.fills).toEqual({ completed: 1, failed: 1, bytes: 100 });
  });
});
