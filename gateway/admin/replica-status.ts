// The replica set as the admin endpoint shows it (issue 18): this replica, the others from the
// replica directory with their health and last-seen age, and the shared stores' health; rendered
// by /api/status and the status page, and exported as Prometheus gauges.
import { Gauge, type Registry } from "prom-client";
import type { ReplicaDirectory, ReplicaHealth } from "../store/pg/replica-directory.ts";
import type { ProbeState, SharedStoreState } from "./shared-store-health.ts";

export interface ReplicaRow {
  id: string;
  name: string;
  addresses: string[];
  startedAt: string;
  /** Seconds since its last heartbeat (the database's clock). */
  seenSecondsAgo: number;
  /** healthy: store, bucket and database answer; degraded: one of them does not; gone: no heartbeat. */
  state: "healthy" | "degraded" | "gone";
  health: Partial<ReplicaHealth>;
  self: boolean;
}

export interface ReplicaStatus {
  self: { id: string; name: string };
  heartbeatSeconds: number;
  /** A replica not seen for this long counts as gone. */
  expirySeconds: number;
  replicas: ReplicaRow[];
}

export function replicaStatusOf(directory: ReplicaDirectory): ReplicaStatus {
  return {
    self: { id: directory.id, name: directory.name },
    heartbeatSeconds: directory.intervalMs / 1000,
    expirySeconds: directory.expiryMs / 1000,
    replicas: directory.list().map((r) => ({
      id: r.id,
      name: r.name,
      addresses: r.addresses,
      startedAt: new Date(r.startedAt).toISOString(),
      seenSecondsAgo: Math.round(r.seenAgoMs / 100) / 10,
      state: r.gone ? "gone" : r.healthy ? "healthy" : "degraded",
      health: r.health,
      self: r.self,
    })),
  };
}

const up = (s: ProbeState | null) => (s === null || s.reachable === null ? undefined : s.reachable ? 1 : 0);

/** Adds the replica and shared-store gauges to `registry`; read when scraped. */
export function registerReplicaMetrics(
  registry: Registry,
  source: { replicas?(): ReplicaStatus; sharedStore?(): SharedStoreState },
): void {
  const registers = [registry];
  if (source.sharedStore) {
    const state = source.sharedStore.bind(source);
    new Gauge({
      name: "wharf_shared_store_up",
      help: "Whether a store the replicas share answered its last probe (every few seconds): store bucket or database",
      labelNames: ["store"] as const,
      registers,
      collect() {
        this.reset();
        const s = state();
        for (const store of ["bucket", "database"] as const) {
          const v = up(s[store]);
          if (v !== undefined) this.set({ store }, v);
        }
      },
    });
  }
  if (!source.replicas) return;
  const replicas = source.replicas.bind(source);
  const perReplica = (name: string, help: string, value: (r: ReplicaRow) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ["id", "name"] as const,
      registers,
      collect() {
        this.reset();
        for (const r of replicas().replicas) this.set({ id: r.id, name: r.name }, value(r));
      },
    });
  new Gauge({
    name: "wharf_replica_info",
    help: "This replica, by its id and name in the replica directory: always 1",
    labelNames: ["id", "name"] as const,
    registers,
    collect() {
      this.reset();
      const s = replicas().self;
      this.set({ id: s.id, name: s.name }, 1);
    },
  });
  perReplica(
    "wharf_replica_healthy",
    "Replicas in the directory: 1 healthy (store, bucket and database answer), 0 degraded or gone",
    (r) => (r.state === "healthy" ? 1 : 0),
  );
  perReplica(
    "wharf_replica_seen_age_seconds",
    "Seconds since each replica's last heartbeat in the directory (gone after three heartbeats)",
    (r) => r.seenSecondsAgo,
  );
}
