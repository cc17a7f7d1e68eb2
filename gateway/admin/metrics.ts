// Prometheus metrics (text exposition format 0.0.4) on a registry of wharf's own, never prom-client's
// global one, so several instances (tests, workers) never share counters. Counters are fed by
// events; gauges read live values from the StatusSource when scraped.

import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { QUERY_KINDS } from "../../dns/query-kinds.ts";
import type { RequestEvent } from "../http/registry-app.ts";
import type { StatusSource } from "./status-source.ts";
import { upstreamErrorLabel } from "./wharf-stats.ts";

export interface WharfMetrics {
  readonly registry: Registry;
  readonly contentType: string;
  observeRequest(e: RequestEvent): void;
  /** A blob fill finished (stored or failed) after `ms`. */
  observeFill(ms: number): void;
  observeEviction(n: number, bytes: number): void;
  /** One DNS query by how it was answered (dns/query-handler.ts QueryKind). */
  observeDnsQuery(kind: string): void;
  text(): Promise<string>;
}

/** Where served bytes came from: the store, a fill another client started, or upstream for this request. */
export function byteSource(outcome: RequestEvent["outcome"]): "cache" | "coalesced" | "upstream" | undefined {
  if (outcome === "hit" || outcome === "revalidated" || outcome === "stale") return "cache";
  if (outcome === "coalesced") return "coalesced";
  if (outcome === "miss" || outcome === "passthrough") return "upstream";
  return undefined;
}

/** Live connection counts by listener (server/connection-limits.ts ConnectionStats). */
export interface ConnectionCounts {
  readonly open: Readonly<Record<string, number>>;
  readonly refused: Readonly<Record<string, number>>;
  readonly sendTimeouts: Readonly<Record<string, number>>;
}

/** Adds the listeners' connection gauge and counters (limits.*) to `registry`; read when scraped. */
export function registerConnectionMetrics(registry: Registry, counts: ConnectionCounts): void {
  const registers = [registry];
  const fromCounts = (values: Readonly<Record<string, number>>) =>
    function collect(this: Gauge<"listener"> | Counter<"listener">) {
      this.reset();
      for (const [listener, n] of Object.entries(values)) {
        if (this instanceof Gauge) this.set({ listener }, n);
        else this.inc({ listener }, n);
      }
    };
  new Gauge({
    name: "wharf_connections_open",
    help: "Client connections open now, by listener (https, http); bounded by limits.maxConnections",
    labelNames: ["listener"] as const,
    registers,
    collect: fromCounts(counts.open),
  });
  new Counter({
    name: "wharf_connections_refused_total",
    help: "Connections closed at accept because limits.maxConnections were open, by listener",
    labelNames: ["listener"] as const,
    registers,
    collect: fromCounts(counts.refused),
  });
  new Counter({
    name: "wharf_send_timeouts_total",
    help: "Responses torn down because the client made no progress for limits.sendTimeout, by listener",
    labelNames: ["listener"] as const,
    registers,
    collect: fromCounts(counts.sendTimeouts),
  });
}

const BREAKER_OPEN = { closed: 0, "half-open": 0.5, open: 1 } as const;

export function createMetrics(
  source: Pick<StatusSource, "cacheTotals" | "rateLimits" | "registries" | "fillsInFlight">,
  opts: { defaultMetrics?: boolean } = {},
): WharfMetrics {
  const registry = new Registry();
  const registers = [registry];
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry });

  const requests = new Counter({
    name: "wharf_requests_total",
    help: "Registry API requests by registry, kind (manifest, blob, tags, base) and outcome",
    labelNames: ["registry", "kind", "outcome"] as const,
    registers,
  });
  const bytesServed = new Counter({
    name: "wharf_bytes_served_total",
    help: "Body bytes sent to clients, by source: cache (stored), coalesced (a fill started by another client), upstream",
    labelNames: ["registry", "source"] as const,
    registers,
  });
  const fillDuration = new Histogram({
    name: "wharf_fill_duration_seconds",
    help: "Time from the start of a blob fill to its verified store (or failure)",
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800],
    registers,
  });
  new Gauge({
    name: "wharf_fills_in_flight",
    help: "Blob fills from upstream running now",
    registers,
    collect() {
      this.set(source.fillsInFlight());
    },
  });
  const coalesced = new Counter({
    name: "wharf_coalesced_waiters_total",
    help: "Requests that joined an upstream fetch already in flight instead of starting their own",
    labelNames: ["registry"] as const,
    registers,
  });
  const upstreamErrors = new Counter({
    name: "wharf_upstream_errors_total",
    help: "Requests failed by the upstream, by upstream status (401, 403, 429) or kind (unavailable, timeout, dns, invalid)",
    labelNames: ["registry", "status"] as const,
    registers,
  });
  new Gauge({
    name: "wharf_cache_size_bytes",
    help: "Bytes of blobs and manifests in the cache",
    registers,
    collect() {
      this.set(source.cacheTotals().bytes);
    },
  });
  new Gauge({
    name: "wharf_cache_entries",
    help: "Blobs and manifests in the cache",
    registers,
    collect() {
      this.set(source.cacheTotals().entries);
    },
  });
  new Gauge({
    name: "wharf_cache_max_bytes",
    help: "cache.maxSize (0 when unset: only cache.minFree bounds the cache)",
    registers,
    collect() {
      this.set(source.cacheTotals().maxBytes ?? 0);
    },
  });
  const evictions = new Counter({
    name: "wharf_evictions_total",
    help: "Blobs evicted to stay within the cache budget",
    registers,
  });
  const evictedBytes = new Counter({ name: "wharf_evicted_bytes_total", help: "Bytes evicted", registers });
  new Gauge({
    name: "wharf_ratelimit_remaining",
    help: "Pulls left in the upstream's window (Docker Hub ratelimit-remaining), per registry and account",
    labelNames: ["registry", "account"] as const,
    registers,
    collect() {
      this.reset();
      for (const r of source.rateLimits()) {
        if (r.remaining !== undefined) this.set({ registry: r.registry, account: r.account }, r.remaining);
      }
    },
  });
  new Gauge({
    name: "wharf_ratelimit_limit",
    help: "Pulls allowed per window (Docker Hub ratelimit-limit), per registry and account",
    labelNames: ["registry", "account"] as const,
    registers,
    collect() {
      this.reset();
      for (const r of source.rateLimits()) {
        if (r.limit !== undefined) this.set({ registry: r.registry, account: r.account }, r.limit);
      }
    },
  });
  const dnsQueries = new Counter({
    name: "wharf_dns_queries_total",
    help: `DNS queries by answer: ${QUERY_KINDS.join(", ")}`,
    labelNames: ["kind"] as const,
    registers,
  });
  new Gauge({
    name: "wharf_breaker_open",
    help: "Upstream circuit breaker: 0 closed, 0.5 half-open (one trial allowed), 1 open (failing fast)",
    labelNames: ["registry"] as const,
    registers,
    collect() {
      for (const r of source.registries())
        if (r.kind !== "hosted") this.set({ registry: r.name }, BREAKER_OPEN[r.breaker]);
    },
  });

  return {
    registry,
    contentType: registry.contentType,
    observeRequest(e) {
      const reg = e.registry ?? "none";
      requests.inc({ registry: reg, kind: e.kind, outcome: e.outcome });
      const from = byteSource(e.outcome);
      if (from && e.bytes > 0) bytesServed.inc({ registry: reg, source: from }, e.bytes);
      if (e.outcome === "coalesced") coalesced.inc({ registry: reg });
      const status = e.outcome === "error" ? upstreamErrorLabel(e.errorCode) : undefined;
      if (status) upstreamErrors.inc({ registry: reg, status });
    },
    observeFill(ms) {
      fillDuration.observe(ms / 1000);
    },
    observeEviction(n, bytes) {
      if (n > 0) evictions.inc(n);
      if (bytes > 0) evictedBytes.inc(bytes);
    },
    observeDnsQuery(kind) {
      dnsQueries.inc({ kind });
    },
    text: () => registry.metrics(),
  };
}
