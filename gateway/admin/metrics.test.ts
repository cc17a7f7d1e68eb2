import { describe, expect, it } from "vitest";
import { QUERY_KINDS } from "../../dns/query-handler.ts";
import type { RateLimitState } from "../cache/rate-limits.ts";
import { createMetrics } from "./metrics.ts";
import { requestEvent } from "./request-event.test-support.ts";
import type { RegistryInfo, StatusSource } from "./status-source.ts";

type Source = Pick<StatusSource, "cacheTotals" | "rateLimits" | "registries" | "fillsInFlight">;

function fakeSource(
  over: Partial<{
    bytes: number;
    entries: number;
    max: number | null;
    limits: RateLimitState[];
    regs: RegistryInfo[];
    fills: number;
  }> = {},
): Source {
  const v = { bytes: 0, entries: 0, max: null, limits: [], regs: [], fills: 0, ...over };
  return {
    cacheTotals: () => ({ bytes: v.bytes, entries: v.entries, maxBytes: v.max }),
    rateLimits: () => v.limits,
    registries: () => v.regs,
    fillsInFlight: () => v.fills,
  };
}

const ev = requestEvent;

/** The value of one sample line, e.g. sample(text, 'wharf_requests_total{registry="x",...}'). */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("createMetrics", () => {
  it("counts requests, bytes by source, coalesced waiters and upstream errors", async () => {
    const m = createMetrics(fakeSource(), { defaultMetrics: false });
    m.observeRequest(ev({ outcome: "miss", bytes: 1000 }));
    m.observeRequest(ev({ outcome: "coalesced", bytes: 1000 }));
    m.observeRequest(ev({ outcome: "hit", bytes: 1000 }));
    m.observeRequest(ev({ outcome: "hit", bytes: 24, kind: "manifest" }));
    m.observeRequest(ev({ outcome: "error", status: 429, errorCode: "TOOMANYREQUESTS" }));
    m.observeRequest(ev({ outcome: "error", status: 404, errorCode: "BLOB_UNKNOWN" }));
    m.observeRequest(ev({ registry: undefined, kind: "base", outcome: "hit", bytes: 2 }));
    const t = await m.text();
    expect(sample(t, 'wharf_requests_total{registry="docker.io",kind="blob",outcome="hit"}')).toBe(1);
    expect(sample(t, 'wharf_requests_total{registry="docker.io",kind="manifest",outcome="hit"}')).toBe(1);
    expect(sample(t, 'wharf_requests_total{registry="docker.io",kind="blob",outcome="error"}')).toBe(2);
    expect(sample(t, 'wharf_requests_total{registry="none",kind="base",outcome="hit"}')).toBe(1);
    expect(sample(t, 'wharf_bytes_served_total{registry="docker.io",source="cache"}')).toBe(1024);
    expect(sample(t, 'wharf_bytes_served_total{registry="docker.io",source="upstream"}')).toBe(1000);
    expect(sample(t, 'wharf_bytes_served_total{registry="docker.io",source="coalesced"}')).toBe(1000);
    expect(sample(t, 'wharf_coalesced_waiters_total{registry="docker.io"}')).toBe(1);
    expect(sample(t, 'wharf_upstream_errors_total{registry="docker.io",status="429"}')).toBe(1);
    expect(t).not.toContain('status="404"');
  });

  it("reads gauges from the source at scrape time", async () => {
    const limits: RateLimitState[] = [
      {
        registry: "docker.io",
        account: "anonymous",
        limit: 100,
        remaining: 76,
        windowSeconds: 21600,
        observedAt: 0,
      },
    ];
    const regs: RegistryInfo[] = [
      {
        name: "docker.io",
        upstream: "https://registry-1.docker.io",
        aliases: [],
        offline: false,
        breaker: "open",
        lastError: "HTTP 503",
      },
      {
        name: "ghcr.io",
        upstream: "https://ghcr.io",
        aliases: [],
        offline: false,
        breaker: "closed",
        lastError: null,
      },
    ];
    const src = { bytes: 5000, entries: 3, max: 1 << 30, limits, regs, fills: 2 };
    const m = createMetrics(fakeSource(src), { defaultMetrics: false });
    let t = await m.text();
    expect(sample(t, "wharf_cache_size_bytes")).toBe(5000);
    expect(sample(t, "wharf_cache_entries")).toBe(3);
    expect(sample(t, "wharf_cache_max_bytes")).toBe(1 << 30);
    expect(sample(t, "wharf_fills_in_flight")).toBe(2);
    expect(sample(t, 'wharf_ratelimit_remaining{registry="docker.io",account="anonymous"}')).toBe(76);
    expect(sample(t, 'wharf_ratelimit_limit{registry="docker.io",account="anonymous"}')).toBe(100);
    expect(sample(t, 'wharf_breaker_open{registry="docker.io"}')).toBe(1);
    expect(sample(t, 'wharf_breaker_open{registry="ghcr.io"}')).toBe(0);
    // Live: a later scrape sees new values.
    const later = createMetrics(
      fakeSource({ ...src, bytes: 7000, limits: [{ ...limits[0]!, remaining: 75 }] }),
      { defaultMetrics: false },
    );
    t = await later.text();
    expect(sample(t, "wharf_cache_size_bytes")).toBe(7000);
    expect(sample(t, 'wharf_ratelimit_remaining{registry="docker.io",account="anonymous"}')).toBe(75);
  });

  it("has fill durations, evictions and DNS queries, plus process metrics", async () => {
    const m = createMetrics(fakeSource());
    m.observeFill(1500);
    m.observeFill(40);
    m.observeEviction(3, 3000);
    m.observeDnsQuery("intercepted");
    m.observeDnsQuery("intercepted");
    m.observeDnsQuery("forwarded");
    const t = await m.text();
    expect(sample(t, "wharf_fill_duration_seconds_count")).toBe(2);
    expect(sample(t, 'wharf_fill_duration_seconds_bucket{le="0.05"}')).toBe(1);
    expect(sample(t, 'wharf_fill_duration_seconds_bucket{le="2.5"}')).toBe(2);
    expect(sample(t, "wharf_evictions_total")).toBe(3);
    expect(sample(t, "wharf_evicted_bytes_total")).toBe(3000);
    expect(sample(t, 'wharf_dns_queries_total{kind="intercepted"}')).toBe(2);
    expect(t).toContain("process_cpu_user_seconds_total");
    expect(t).toContain("nodejs_eventloop_lag_seconds");
    expect(m.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  });

  it("names every DNS query kind the responder counts in the help text", async () => {
    const t = await createMetrics(fakeSource(), { defaultMetrics: false }).text();
    const help = t.split("\n").find((l) => l.startsWith("# HELP wharf_dns_queries_total")) ?? "";
    for (const kind of QUERY_KINDS) expect(help, kind).toMatch(new RegExp(`\\b${kind}\\b`));
  });

  it("keeps instances apart (no global registry)", async () => {
    const a = createMetrics(fakeSource(), { defaultMetrics: false });
    const b = createMetrics(fakeSource(), { defaultMetrics: false });
    a.observeDnsQuery("refused");
    expect(sample(await b.text(), 'wharf_dns_queries_total{kind="refused"}')).toBeUndefined();
  });
});
