import { describe, expect, it } from "vitest";
import { requestEvent } from "./request-event.test-support.ts";
import { buildStatusReport } from "./status-report.ts";
import { emptyStatusSource } from "./status-source.test-support.ts";
import { WharfStats } from "./wharf-stats.ts";

describe("status report", () => {
  it("shows a hosted registry by kind, without upstream or breaker", () => {
    const source = emptyStatusSource({
      registries: () => [
        {
          name: "docker.io",
          upstream: "https://registry-1.docker.io",
          aliases: [],
          offline: false,
          breaker: "closed",
          lastError: null,
        },
        {
          name: "registry.internal",
          kind: "hosted",
          upstream: null,
          aliases: ["wharf.example.internal"],
          offline: false,
          breaker: "closed",
          lastError: null,
        },
      ],
    });
    const report = buildStatusReport(new WharfStats(), source, 1_000);
    expect(report.registries.map((r) => [r.name, r.kind, r.upstream?.url ?? null])).toEqual([
      ["docker.io", "proxy", "https://registry-1.docker.io"],
      ["registry.internal", "hosted", null],
    ]);
  });

  it("adds manifest bytes read upstream, and shows an upstream down since its first failure", () => {
    const stats = new WharfStats();
    // a HEAD by tag: wharf GETs the manifest upstream, the client gets no body
    stats.record(requestEvent({ kind: "manifest", method: "HEAD", outcome: "miss", bytes: 0 }));
    stats.record(requestEvent({ kind: "manifest", outcome: "miss", bytes: 900 }));
    stats.record(requestEvent({ kind: "blob", outcome: "miss", bytes: 5000 }));
    stats.record(requestEvent({ kind: "blob", outcome: "hit", bytes: 5000 }));
    const source = emptyStatusSource({
      registries: () => [
        {
          name: "docker.io",
          upstream: "https://registry-1.docker.io",
          aliases: [],
          offline: false,
          breaker: "closed",
          lastError: null,
          manifestBytesFetched: 1400,
          health: {
            reachability: "unreachable",
            lastSuccessAt: "2026-06-01T12:00:00.000Z",
            lastFailureAt: "2026-06-01T12:05:00.000Z",
            unreachableSince: "2026-06-01T12:01:00.000Z",
            lastError: "upstream registry-1.docker.io unreachable (ECONNREFUSED)",
          },
        },
      ],
    });
    const [hub] = buildStatusReport(stats, source, 1_000).registries;
    // manifests as read from upstream (both of them), blobs as sent on misses; nothing twice
    expect(hub?.bytesFetchedUpstream).toBe(6400);
    expect(hub?.upstream).toEqual({
      url: "https://registry-1.docker.io",
      breaker: "closed",
      reachability: "unreachable",
      lastSuccessAt: "2026-06-01T12:00:00.000Z",
      lastFailureAt: "2026-06-01T12:05:00.000Z",
      unreachableSince: "2026-06-01T12:01:00.000Z",
      lastError: "upstream registry-1.docker.io unreachable (ECONNREFUSED)",
    });
  });
});
