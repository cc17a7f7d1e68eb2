// Live facts the admin endpoint reads on demand (each scrape, each /api/status): cache totals,
// rate limits, breakers, fills in flight, the CA and the listeners. An interface, so the admin app
// and metrics are tested without a running gateway; statusSourceFrom() builds it from the real parts.
import type { Ca } from "../../certs/certificate-authority.ts";
import type { Denial } from "../access/access-audit.ts";
import type { ContentCache } from "../cache/content-cache.ts";
import type { RateLimitState, RateLimits } from "../cache/rate-limits.ts";
import type { Config } from "../config/schema.ts";
import type { MirrorEntryStatus } from "../mirror/mirror-service.ts";
import { ProxyRegistry } from "../registry/proxy-registry.ts";
import type { Registry } from "../registry/registry.ts";
import type { BreakerState } from "../upstream/circuit-breaker.ts";
import type { UpstreamHealthSnapshot } from "../upstream/upstream-health.ts";
import type { ReplicaStatus } from "./replica-status.ts";
import type { SharedStoreState } from "./shared-store-health.ts";

export interface RegistryInfo {
  name: string;
  /** Proxied (the default) or hosted; a hosted registry has no upstream and no breaker. */
  kind?: "proxy" | "hosted";
  /** The upstream's URL; null for a hosted registry. */
  upstream: string | null;
  aliases: string[];
  offline: boolean;
  breaker: BreakerState;
  lastError: string | null;
  /** What wharf has seen of the upstream (requests and probes); absent for a hosted registry. */
  health?: UpstreamHealthSnapshot;
  /** Manifest bytes read from the upstream (the request counters see blobs only). */
  manifestBytesFetched?: number;
}

export interface CacheTotals {
  bytes: number;
  entries: number;
  /** cache.maxSize; null when only minFree bounds the cache. */
  maxBytes: number | null;
}

export interface CaInfo {
  subject: string;
  fingerprint256: string;
  notAfter: string;
}

export interface StatusSource {
  version: string;
  /** Epoch ms when wharf started. */
  startedAt: number;
  registries(): RegistryInfo[];
  cacheTotals(): CacheTotals;
  rateLimits(): RateLimitState[];
  fillsInFlight(): number;
  ca(): CaInfo | null;
  /** What each listener is bound to ("http" -> "0.0.0.0:5000"). */
  listen(): Record<string, string>;
  /** Shell commands an operator copies to set up builders. */
  clientCommands(): string[];
  /** Managed mirror entries (absent: none configured). */
  mirror?(): MirrorEntryStatus[];
  /** The latest access denials, newest first (absent: no access section). */
  accessDenials?(): Denial[];
  /** This replica and the others in the replica directory (absent: no storage.postgres). */
  replicas?(): ReplicaStatus;
  /** Whether the bucket and the database answer (absent: neither is configured). */
  sharedStore?(): SharedStoreState;
  /** Per-worker figures (workers: N, docs/workers.md; absent: one process). */
  workers?(): WorkerFigures[];
}

/** One worker slot as the primary knows it (server/cluster-stats.ts). */
export interface WorkerFigures {
  worker: number;
  pid: number | undefined;
  up: boolean;
  startedAt: string;
  restarts: number;
  requests: number;
  bytesServed: number;
  connectionsOpen: number;
  residentBytes: number;
  cpuSeconds: number;
}

/** What the status page offers to copy (cli/ca-command.ts, cli/client-config-command.ts). */
export const DEFAULT_CLIENT_COMMANDS: readonly string[] = [
  "wharf ca export --out ./wharf-ca.crt",
  "wharf client-config docker --out ./wharf-certs",
  "wharf client-config containerd --out ./wharf-containerd",
  "wharf client-config buildkit --out ./wharf-buildkit",
  "wharf client-config daemon-json --out ./daemon.json",
];

/**
 * The commands with `--config <the file this server runs with>`: one-shot commands read the CA
 * through the configuration, and without the server's own they would not find it (CA_MISSING).
 */
export function clientCommandsFor(configFile: string | undefined): string[] {
  if (!configFile || configFile === "embedded defaults") return [...DEFAULT_CLIENT_COMMANDS];
  const quoted = /^[\w./:@=+-]+$/.test(configFile) ? configFile : `'${configFile.replaceAll("'", "'\\''")}'`;
  return DEFAULT_CLIENT_COMMANDS.map((c) => c.replace(/^(wharf [a-z-]+ [a-z-]+)/, `$1 --config ${quoted}`));
}

export function caInfo(ca: Pick<Ca, "subject" | "fingerprint256" | "notAfter">): CaInfo {
  return { subject: ca.subject, fingerprint256: ca.fingerprint256, notAfter: ca.notAfter.toISOString() };
}

export function statusSourceFrom(parts: {
  config: Config;
  cache: ContentCache;
  backends: ReadonlyMap<string, Registry>;
  rateLimits: RateLimits;
  version: string;
  startedAt?: number;
  /** The CA once loaded (a getter: it may be rotated while running). */
  ca?: () => Ca | undefined;
  /** Bound addresses, filled in as listeners come up (startWharf's `addresses`). */
  addresses: Record<string, string>;
  clientCommands?: readonly string[];
  mirror?: () => MirrorEntryStatus[];
  replicas?: () => ReplicaStatus;
  sharedStore?: () => SharedStoreState;
}): StatusSource {
  const { config, cache, backends } = parts;
  return {
    version: parts.version,
    startedAt: parts.startedAt ?? Date.now(),
    registries: () =>
      Object.entries(config.registries).map(([name, reg]) => {
        const registry = backends.get(name);
        const upstream = registry instanceof ProxyRegistry ? registry.upstream : undefined;
        const breaker = upstream?.breaker;
        return {
          name,
          kind: reg.hosted ? ("hosted" as const) : ("proxy" as const),
          upstream: reg.upstream ?? null,
          aliases: [...reg.aliases],
          offline: config.offline || reg.offline,
          breaker: breaker?.state ?? "closed",
          lastError: breaker?.lastError ?? null,
          ...(upstream && {
            health: upstream.health.snapshot(),
            manifestBytesFetched: upstream.health.manifestBytes,
          }),
        };
      }),
    cacheTotals: () => {
      const t = cache.db.totalSize();
      return { bytes: t.bytes, entries: t.count, maxBytes: config.cache.maxSize };
    },
    rateLimits: () => parts.rateLimits.all(),
    fillsInFlight: () => cache.fills.size,
    ca: () => {
      const ca = parts.ca?.();
      return ca ? caInfo(ca) : null;
    },
    listen: () => ({ ...parts.addresses }),
    clientCommands: () => [...(parts.clientCommands ?? DEFAULT_CLIENT_COMMANDS)],
    ...(parts.mirror && { mirror: parts.mirror }),
    ...(parts.replicas && { replicas: parts.replicas }),
    ...(parts.sharedStore && { sharedStore: parts.sharedStore }),
  };
}
