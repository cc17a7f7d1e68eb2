// In-memory counters behind the status page: per registry requests by kind and outcome, where the
// bytes came from, the busiest repositories and the latest errors. Fed one RequestEvent per request
// (registry-app.ts onRequest) and one fact per finished blob fill. Pure: no I/O, clock passed in.
import type { RequestEvent } from "../http/registry-app.ts";

/** Outcomes answered from the local store without an upstream transfer for this request. */
const FROM_CACHE = new Set(["hit", "revalidated", "stale"]);
/** Error codes that stand for an upstream answer or failure, and the label they are counted under. */
const UPSTREAM_ERROR_LABEL: Readonly<Record<string, string>> = {
  UNAUTHORIZED: "401",
  DENIED: "403",
  TOOMANYREQUESTS: "429",
  UPSTREAM_UNAVAILABLE: "unavailable",
  UPSTREAM_TIMEOUT: "timeout",
  UPSTREAM_DNS_FAILED: "dns",
  UPSTREAM_INVALID: "invalid",
};
const MAX_REPOSITORIES = 1000;
const RECENT_ERRORS = 50;

export interface RegistryCounters {
  requests: number;
  /** requests[kind][outcome], e.g. byKind.blob.hit. */
  byKind: Record<string, Record<string, number>>;
  hits: number;
  misses: number;
  coalesced: number;
  errors: number;
  /** Bytes sent from the store: hit, revalidated, stale. */
  bytesServedFromCache: number;
  /** Bytes sent to the client that joined a fill already running: fetched upstream once, for someone else. */
  bytesCoalesced: number;
  /**
   * Blob bytes sent on misses and passthroughs: the one upstream transfer per fill. Manifests are
   * counted where they are read from upstream (UpstreamHealth.manifestBytes): a client's HEAD makes
   * wharf GET the manifest while the client itself gets no body.
   */
  bytesFetchedUpstream: number;
  /** Upstream failures by upstream status ("401", "429") or kind ("timeout", "unavailable"). */
  upstreamErrors: Record<string, number>;
}

export interface RepositoryCounters {
  registry: string;
  repository: string;
  requests: number;
  hits: number;
  bytes: number;
}

export interface RecentError {
  at: string;
  registry: string | null;
  repository: string | null;
  reference: string | null;
  kind: RequestEvent["kind"];
  method: string;
  status: number;
  errorCode: string | null;
}

export interface FillTotals {
  completed: number;
  failed: number;
  bytes: number;
}

export function upstreamErrorLabel(errorCode: string | undefined): string | undefined {
  return errorCode ? UPSTREAM_ERROR_LABEL[errorCode] : undefined;
}

function emptyCounters(): RegistryCounters {
  return {
    requests: 0,
    byKind: {},
    hits: 0,
    misses: 0,
    coalesced: 0,
    errors: 0,
    bytesServedFromCache: 0,
    bytesCoalesced: 0,
    bytesFetchedUpstream: 0,
    upstreamErrors: {},
  };
}

/** Share of cacheable requests answered from the cache; null before the first one. */
export function hitRatio(c: Pick<RegistryCounters, "hits" | "misses" | "coalesced">): number | null {
  const total = c.hits + c.misses + c.coalesced;
  return total === 0 ? null : c.hits / total;
}

/** Bytes clients got without an upstream transfer of their own. */
export function bytesSaved(c: Pick<RegistryCounters, "bytesServedFromCache" | "bytesCoalesced">): number {
  return c.bytesServedFromCache + c.bytesCoalesced;
}

export class WharfStats {
  readonly #registries = new Map<string, RegistryCounters>();
  readonly #repositories = new Map<string, RepositoryCounters>();
  readonly #errors: RecentError[] = [];
  readonly #now: () => number;
  readonly fills: FillTotals = { completed: 0, failed: 0, bytes: 0 };
  /** Requests that named no registry (the /v2/ ping, unknown paths). */
  otherRequests = 0;

  constructor(opts: { now?: () => number } = {}) {
    this.#now = opts.now ?? Date.now;
  }

  record(e: RequestEvent): void {
    if (e.outcome === "error") this.#noteError(e);
    if (!e.registry) {
      this.otherRequests++;
      return;
    }
    const c = this.#counters(e.registry);
    c.requests++;
    const kind = c.byKind[e.kind] ?? {};
    kind[e.outcome] = (kind[e.outcome] ?? 0) + 1;
    c.byKind[e.kind] = kind;
    if (FROM_CACHE.has(e.outcome)) {
      c.hits++;
      c.bytesServedFromCache += e.bytes;
    } else if (e.outcome === "miss") {
      c.misses++;
      if (e.kind !== "manifest") c.bytesFetchedUpstream += e.bytes;
    } else if (e.outcome === "coalesced") {
      c.coalesced++;
      c.bytesCoalesced += e.bytes;
    } else if (e.outcome === "passthrough") {
      if (e.kind !== "manifest") c.bytesFetchedUpstream += e.bytes;
    } else {
      c.errors++;
      const label = upstreamErrorLabel(e.errorCode);
      if (label) c.upstreamErrors[label] = (c.upstreamErrors[label] ?? 0) + 1;
    }
    if (e.repository) this.#noteRepository(e.registry, e.repository, FROM_CACHE.has(e.outcome), e.bytes);
  }

  /** A blob fill ended: stored (`ok`) or abandoned. */
  recordFill(f: { bytes: number; ok: boolean }): void {
    if (f.ok) {
      this.fills.completed++;
      this.fills.bytes += f.bytes;
    } else this.fills.failed++;
  }

  registry(name: string): RegistryCounters {
    return structuredClone(this.#registries.get(name) ?? emptyCounters());
  }

  registryNames(): string[] {
    return [...this.#registries.keys()];
  }

  /** The busiest repositories, by requests then bytes. */
  topRepositories(n = 10): RepositoryCounters[] {
    return [...this.#repositories.values()]
      .sort((a, b) => b.requests - a.requests || b.bytes - a.bytes)
      .slice(0, n)
      .map((r) => ({ ...r }));
  }

  /** Newest first. */
  recentErrors(): RecentError[] {
    return this.#errors.toReversed();
  }

  #counters(registry: string): RegistryCounters {
    let c = this.#registries.get(registry);
    if (!c) {
      c = emptyCounters();
      this.#registries.set(registry, c);
    }
    return c;
  }

  #noteRepository(registry: string, repository: string, hit: boolean, bytes: number): void {
    const key = `${registry}/${repository}`;
    let r = this.#repositories.get(key);
    if (!r) {
      // Bounded: past the cap, forget the least requested fifth (clients choose repository names).
      if (this.#repositories.size >= MAX_REPOSITORIES) {
        const keep = [...this.#repositories.entries()].sort((a, b) => b[1].requests - a[1].requests);
        for (const [k] of keep.slice(Math.floor(MAX_REPOSITORIES * 0.8))) this.#repositories.delete(k);
      }
      r = { registry, repository, requests: 0, hits: 0, bytes: 0 };
      this.#repositories.set(key, r);
    }
    r.requests++;
    if (hit) r.hits++;
    r.bytes += bytes;
  }

  #noteError(e: RequestEvent): void {
    this.#errors.push({
      at: new Date(this.#now()).toISOString(),
      registry: e.registry ?? null,
      repository: e.repository ?? null,
      reference: e.reference ?? null,
      kind: e.kind,
      method: e.method,
      status: e.status,
      errorCode: e.errorCode ?? null,
    });
    if (this.#errors.length > RECENT_ERRORS) this.#errors.shift();
  }
}
