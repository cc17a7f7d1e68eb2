// The /api/status document: the collected counters joined with the live state of each registry,
// the cache, the CA and the listeners. The status page renders exactly this.

import type { Denial } from "../access/access-audit.ts";
import type { MirrorEntryStatus } from "../mirror/mirror-service.ts";
import type { BreakerState } from "../upstream/circuit-breaker.ts";
import type { UpstreamHealthSnapshot } from "../upstream/upstream-health.ts";
import type { ReplicaStatus } from "./replica-status.ts";
import type { SharedStoreState } from "./shared-store-health.ts";
import type { CaInfo, StatusSource, WorkerFigures } from "./status-source.ts";
import {
  bytesSaved,
  hitRatio,
  type RecentError,
  type RepositoryCounters,
  type WharfStats,
} from "./wharf-stats.ts";

export interface RegistryStatus {
  name: string;
  kind: "proxy" | "hosted";
  aliases: string[];
  offline: boolean;
  requests: number;
  hits: number;
  misses: number;
  coalesced: number;
  errors: number;
  /** hits / (hits + misses + coalesced); null before the first cacheable request. */
  hitRatio: number | null;
  bytesServedFromCache: number;
  bytesCoalesced: number;
  bytesFetchedUpstream: number;
  /** Bytes clients got without an upstream transfer of their own (cache + coalesced). */
  bytesSaved: number;
  byKind: Record<string, Record<string, number>>;
  upstreamErrors: Record<string, number>;
  /** null for a hosted registry: it has no upstream. */
  upstream:
    | ({ url: string; breaker: BreakerState; lastError: string | null } & Partial<UpstreamHealthSnapshot>)
    | null;
  rateLimit: {
    account: string;
    limit: number | null;
    remaining: number | null;
    windowSeconds: number | null;
    observedAt: string;
  }[];
}

export interface StatusReport {
  version: string;
  now: string;
  startedAt: string;
  uptimeSeconds: number;
  totals: {
    requests: number;
    hits: number;
    misses: number;
    hitRatio: number | null;
    bytesSaved: number;
    bytesFetchedUpstream: number;
  };
  registries: RegistryStatus[];
  topRepositories: RepositoryCounters[];
  recentErrors: RecentError[];
  fills: { inFlight: number; completed: number; failed: number; bytes: number };
  cache: { bytes: number; entries: number; maxBytes: number | null; usageRatio: number | null };
  ca: CaInfo | null;
  clientCommands: string[];
  listen: Record<string, string>;
  /** Managed mirror entries: current digests, pins, last sync, drift (empty when none). */
  mirror: MirrorEntryStatus[];
  /** The latest access denials, newest first (names and addresses only, never a credential). */
  accessDenials: Denial[];
  /** The replica set (null: not in one, no storage.postgres). */
  replicas: ReplicaStatus | null;
  /** The shared stores' health (null: storage is the local disk only). */
  sharedStore: SharedStoreState | null;
  /** Per worker, with workers: N (empty with one process). */
  workers: WorkerFigures[];
}

export function buildStatusReport(stats: WharfStats, source: StatusSource, now = Date.now()): StatusReport {
  const limits = source.rateLimits();
  const registries: RegistryStatus[] = source.registries().map((r) => {
    const c = stats.registry(r.name);
    return {
      name: r.name,
      kind: r.kind ?? "proxy",
      aliases: r.aliases,
      offline: r.offline,
      requests: c.requests,
      hits: c.hits,
      misses: c.misses,
      coalesced: c.coalesced,
      errors: c.errors,
      hitRatio: hitRatio(c),
      bytesServedFromCache: c.bytesServedFromCache,
      bytesCoalesced: c.bytesCoalesced,
      bytesFetchedUpstream: c.bytesFetchedUpstream + (r.manifestBytesFetched ?? 0),
      bytesSaved: bytesSaved(c),
      byKind: c.byKind,
      upstreamErrors: c.upstreamErrors,
      upstream:
        r.upstream === null
          ? null
          : {
              ...r.health,
              url: r.upstream,
              breaker: r.breaker,
              // the breaker forgets its error on the next answer; the health keeps it while failing
              lastError: r.lastError ?? (r.health?.unreachableSince ? r.health.lastError : null),
            },
      rateLimit: limits
        .filter((l) => l.registry === r.name)
        .map((l) => ({
          account: l.account,
          limit: l.limit ?? null,
          remaining: l.remaining ?? null,
          windowSeconds: l.windowSeconds ?? null,
          observedAt: new Date(l.observedAt).toISOString(),
        })),
    };
  });
  const sum = (f: (r: RegistryStatus) => number) => registries.reduce((n, r) => n + f(r), 0);
  const hits = sum((r) => r.hits);
  const misses = sum((r) => r.misses);
  const cache = source.cacheTotals();
  return {
    version: source.version,
    now: new Date(now).toISOString(),
    startedAt: new Date(source.startedAt).toISOString(),
    uptimeSeconds: Math.max(0, Math.floor((now - source.startedAt) / 1000)),
    totals: {
      requests: sum((r) => r.requests) + stats.otherRequests,
      hits,
      misses,
      hitRatio: hitRatio({ hits, misses, coalesced: sum((r) => r.coalesced) }),
      bytesSaved: sum((r) => r.bytesSaved),
      bytesFetchedUpstream: sum((r) => r.bytesFetchedUpstream),
    },
    registries,
    topRepositories: stats.topRepositories(10),
    recentErrors: stats.recentErrors(),
    fills: { inFlight: source.fillsInFlight(), ...stats.fills },
    cache: { ...cache, usageRatio: cache.maxBytes ? cache.bytes / cache.maxBytes : null },
    ca: source.ca(),
    clientCommands: source.clientCommands(),
    listen: source.listen(),
    mirror: source.mirror?.() ?? [],
    accessDenials: source.accessDenials?.() ?? [],
    replicas: source.replicas?.() ?? null,
    sharedStore: source.sharedStore?.() ?? null,
    workers: source.workers?.() ?? [],
  };
}
