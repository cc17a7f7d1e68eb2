// What the replica figures (issue 18) run on, next to the bench world: a real single-node Ceph
// (RADOS Gateway) and a real PostgreSQL from the test harness, on loopback addresses of their own,
// and wharf replicas started on demand: each is the bench's wharf contender (same TLS gateway, same
// registry, same upstream) with `storage.kind: s3` on a bucket and `storage.postgres`, on its own
// address and dataDir. Clients reach every replica under wharf's bench name (curl --resolve); a
// manifest GET by tag (getManifest) starts each measured read, as it starts a pull.
import { type Ceph, startCeph } from "../test/support/ceph.ts";
import { loopbackIp } from "../test/support/ports.ts";
import { type Postgres, startPostgres } from "../test/support/postgres.ts";
import { replicaEnv, replicaStorage } from "../test/support/replica-set.ts";
import { runCommand } from "../test/support/run-command.ts";
import { startWharf, type WharfProcess } from "../test/support/wharf-process.ts";
import type { BenchWorld } from "./bench-world.ts";
import { MANIFEST_ACCEPT } from "./clients.ts";
import { type Contender, HOST_NAMES, wharfConfig } from "./contenders.ts";

export const S3_PREFIX = "wharf/";

/** One bucket and one database: what a set of replicas shares. */
export interface Shared {
  bucket: string;
  databaseUrl: string;
  /** The S3 endpoint this replica talks to (default RGW itself; a counting proxy for request counts). */
  endpoint?: string;
}

export interface Replica extends Contender {
  /** Its dataDir (the local disk cache). */
  readonly dataDir: string;
}

export interface ReplicaWorld {
  ceph: Ceph;
  pg: Postgres;
  /** A fresh bucket and database. */
  share(): Promise<Shared>;
  startReplica(shared: Shared): Promise<Replica>;
  /** `n` replicas on `shared`, started side by side. */
  startReplicas(shared: Shared, n: number): Promise<Replica[]>;
  /** Stops every replica started so far, then Ceph and PostgreSQL. */
  stop(): Promise<void>;
}

export async function startReplicaWorld(w: BenchWorld): Promise<ReplicaWorld> {
  const [ceph, pg] = await Promise.all([startCeph(), startPostgres()]);
  const running: WharfProcess[] = [];
  const world: ReplicaWorld = {
    ceph,
    pg,
    async share() {
      return { bucket: await ceph.createBucket(), databaseUrl: await pg.createDatabase() };
    },
    async startReplica(shared) {
      const ip = loopbackIp();
      const config = wharfConfig({ ca: w.ca, upstream: w.upstream }, ip);
      const p = await startWharf({
        config: {
          ...config,
          storage: replicaStorage({
            endpoint: shared.endpoint ?? ceph.endpoint,
            bucket: shared.bucket,
            prefix: S3_PREFIX,
          }),
        },
        env: replicaEnv(ceph, shared.databaseUrl),
      });
      running.push(p);
      return {
        name: "wharf",
        host: HOST_NAMES.wharf,
        ip,
        dataDir: String(p.config.dataDir),
        reset: () => Promise.reject(new Error("a replica is not reset: start a new one")),
        pids: () => [p.pid],
        stop: async () => {
          await p.stop();
        },
      };
    },
    startReplicas(shared, n) {
      return Promise.all(Array.from({ length: n }, () => world.startReplica(shared)));
    },
    async stop() {
      for (const p of running.splice(0)) await p.stop().catch(() => {});
      await pg.stop().catch(() => {});
      await ceph.stop().catch(() => {});
    },
  };
  return world;
}

/** The repository holding the fill layer (bench-images.ts). */
export function fillRepository(w: BenchWorld): string {
  return w.images.fillLayer.digest === w.images.bigLayer.digest ? "library/big" : "library/mid";
}

/** A manifest GET by tag, as a pull starts: it links the image's blobs to the repository. */
export async function getManifest(w: BenchWorld, c: Contender, repo: string): Promise<void> {
  const r = await runCommand([
    "curl",
    "-sS",
    "--noproxy",
    "*",
    "--resolve",
    `${c.host}:443:${c.ip}`,
    "--cacert",
    w.env.caFile,
    "-H",
    `accept: ${MANIFEST_ACCEPT}`,
    "-o",
    "/dev/null",
    "-w",
    "%{http_code}",
    `https://${c.host}/v2/${repo}/manifests/latest`,
  ]);
  if (r.stdout.trim() !== "200") throw new Error(`manifest of ${repo}: HTTP ${r.stdout.trim()}`);
}
