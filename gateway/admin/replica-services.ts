// A replica's view of its replica set, for startWharf: the shared stores' health probe (bucket and
// database) and, with storage.postgres, this replica's row in the replica directory. The status
// page, /metrics, /readyz and the DNS responder read them (docs/storage.md#replicas).
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { SharedBlobStore } from "../cache/shared-blobs.ts";
import type { Config } from "../config/schema.ts";
import type { Logger } from "../log.ts";
import { dnsAnswerAddresses } from "../server/start-dns.ts";
import type { SharedMetadata } from "../store/pg/open-postgres.ts";
import { ReplicaDirectory } from "../store/pg/replica-directory.ts";
import { type ReplicaStatus, replicaStatusOf } from "./replica-status.ts";
import { bucketProbe, SharedStoreHealth, type SharedStoreState } from "./shared-store-health.ts";

/** Heartbeat and probe period; a replica silent for three of them counts as gone. */
const HEARTBEAT_MS = 5_000;

export interface ReplicaServices {
  directory: ReplicaDirectory | undefined;
  /** For statusSourceFrom and createReadiness (absent: no shared store configured). */
  sharedStore?: () => SharedStoreState;
  replicas?: () => ReplicaStatus;
  /** For startDns: every healthy replica's address. */
  answers?: () => readonly string[];
  /** Registers this replica (first heartbeat, then every 5 s): once its listeners are up. */
  announce(): Promise<void>;
  /** Leaves the directory (its row deleted) and stops probing; safe to call twice. */
  stop(): Promise<void>;
}

export async function startReplicaServices(opts: {
  config: Config;
  shared: SharedMetadata | undefined;
  bucket: SharedBlobStore | undefined;
  /** The local disk's health (cache/store-health.ts). */
  store: { readonly writable: boolean };
  log: Logger;
}): Promise<ReplicaServices> {
  const { shared, bucket, log } = opts;
  const health = new SharedStoreHealth({
    ...(bucket && { bucket: bucketProbe(bucket) }),
    ...(shared && { database: () => shared.ping() }),
    log,
    intervalMs: HEARTBEAT_MS,
  });
  if (!health.configured) return { directory: undefined, announce: async () => {}, stop: async () => {} };
  await health.probe();
  health.start();
  const sharedStore = () => health.state();
  if (!shared)
    return {
      directory: undefined,
      sharedStore,
      announce: async () => {},
      stop: async () => health.stop(),
    };
  let addresses: string[] = [];
  try {
    addresses = dnsAnswerAddresses(opts.config);
  } catch {
    // no usable address: the replica is listed, DNS mode answers with the others
  }
  const name = hostname();
  const directory = new ReplicaDirectory({
    pool: shared.pool,
    id: `${name}-${randomBytes(4).toString("hex")}`,
    name,
    addresses,
    health: () => {
      const s = health.state();
      return {
        store: opts.store.writable,
        bucket: s.bucket ? s.bucket.reachable !== false : null,
        database: s.database?.reachable !== false,
      };
    },
    log,
    intervalMs: HEARTBEAT_MS,
  });
  let stopping: Promise<void> | undefined;
  return {
    directory,
    sharedStore,
    replicas: () => replicaStatusOf(directory),
    answers: () => directory.answerAddresses(),
    async announce() {
      await directory.start();
      log.info({ id: directory.id, addresses }, "registered in the replica directory");
    },
    stop() {
      stopping ??= (async () => {
        health.stop();
        await directory.stop();
      })();
      return stopping;
    },
  };
}
