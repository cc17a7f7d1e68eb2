// What startWharf does differently in a process of a cluster (workers: N, docs/workers.md). The
// primary holds the dataDir lock and runs DNS, the admin endpoint, the evictor, the scrubber, the
// mirror scheduler and the upstream probes, and starts the workers in place of the HTTPS and
// HTTP listeners; a worker serves those listeners only and reports what it did to the primary.
import type { AdminEndpoint } from "../admin/admin-endpoint.ts";
import type { ContentCache } from "../cache/content-cache.ts";
import type { DataDirLock } from "../cache/data-dir-lock.ts";
import type { Evictor } from "../cache/evictor.ts";
import type { FillCoordinator } from "../cache/fill-coordination.ts";
import type { RequestEvent } from "../http/registry-app.ts";
import type { ConnectionStats } from "./connection-limits.ts";

export interface PrimaryRole {
  kind: "primary";
  fills: FillCoordinator;
  /** Open connections and refusals summed over the workers. */
  connections: ConnectionStats;
  /** Starts the workers; fills in addresses.https/http once they listen; returns their stop. */
  serve(ctx: {
    admin: AdminEndpoint;
    evictor: Evictor;
    cache: ContentCache;
    lock: DataDirLock;
    addresses: Record<string, string>;
  }): Promise<() => Promise<void>>;
}

export interface WorkerRole {
  kind: "worker";
  fills: FillCoordinator;
  connections: ConnectionStats;
  onRequest(e: RequestEvent): void;
  onFill(f: { bytes: number; ms: number; ok: boolean }): void;
  onStored(size: number): void;
  /** Digests this worker streams or fills now (startWharf sets it once the cache is open). */
  inUse: () => string[];
}

export type ClusterRole = PrimaryRole | WorkerRole;
