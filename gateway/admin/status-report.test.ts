import { describe, expect, it } from "vitest";
import { buildStatusReport } from "./status-report.ts";
import type { StatusSource } from "./status-source.ts";
import { WharfStats } from "./wharf-stats.ts";

describe("status report", () => {
  it("shows a hosted registry by kind, without upstream or breaker", () => {
    const source: StatusSource = {
      version: "0.0.0-test",
      startedAt: 0,
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
      cacheTotals: () => ({ bytes: 0, entries: 0, maxBytes: null }),
      rateLimits: () => [],
      fillsInFlight: () => 0,
      ca: () => null,
      listen: () => ({}),
      clientCommands: () => [],
    };
    const report = buildStatusReport(new WharfStats(), source, 1_000);
    expect(report.registries.map((r) => [r.name, r.kind, r.upstream?.url ?? null])).toEqual([
      ["docker.io", "proxy", "https://registry-1.docker.io"],
      ["registry.internal", "hosted", null],
    ]);
  });
});
