// A replica set for the e2e tests of issue 18: wharf replicas on one bucket of the harness's Ceph,
// sharing one PostgreSQL database (storage.postgres), each on its own loopback address and dataDir.
import type { Ceph } from "./ceph.ts";
import type { LoopbackInternet } from "./loopback-internet.ts";
import { freePort, loopbackIp } from "./ports.ts";
import type { Postgres } from "./postgres.ts";
import { startWharf, type WharfProcess } from "./wharf-process.ts";

export interface ReplicaSet {
  bucket: string;
  databaseUrl: string;
  /** Every replica started so far (stop them in afterAll). */
  started: WharfProcess[];
  /** A new replica; `registries` replaces the default (docker.io through the hub proxy). */
  start(extra?: Record<string, unknown>): Promise<WharfProcess>;
}

export async function createReplicaSet(ceph: Ceph, pg: Postgres, net: LoopbackInternet): Promise<ReplicaSet> {
  const set: ReplicaSet = {
    bucket: await ceph.createBucket(),
    databaseUrl: await pg.createDatabase(),
    started: [],
    async start(extra = {}) {
      const ip = loopbackIp();
      const w = await startWharf({
        config: {
          listen: { http: `${ip}:5000` },
          upstreamCaFile: net.ca.caCert,
          upstreamDns: `127.0.0.1:${await freePort()}`,
          registries: { "docker.io": { upstream: net.hubProxy.url } },
          ...extra,
          storage: replicaStorage({ endpoint: ceph.endpoint, bucket: set.bucket }),
        },
        env: replicaEnv(ceph, set.databaseUrl),
      });
      set.started.push(w);
      return w;
    },
  };
  return set;
}

/** `storage:` of a replica: the bucket (keys from S3_ACCESS / S3_SECRET) and the database (WHARF_DB). */
export function replicaStorage(o: { endpoint: string; bucket: string; prefix?: string }) {
  return {
    kind: "s3",
    s3: {
      endpoint: o.endpoint,
      bucket: o.bucket,
      prefix: o.prefix ?? "wharf/",
      accessKeyEnv: "S3_ACCESS",
      secretKeyEnv: "S3_SECRET",
    },
    postgres: { urlEnv: "WHARF_DB" },
  };
}

/** The environment replicaStorage() names: Ceph's keys and the database URL. */
export function replicaEnv(
  ceph: Pick<Ceph, "accessKey" | "secretKey">,
  databaseUrl: string,
): NodeJS.ProcessEnv {
  return { ...process.env, S3_ACCESS: ceph.accessKey, S3_SECRET: ceph.secretKey, WHARF_DB: databaseUrl };
}
