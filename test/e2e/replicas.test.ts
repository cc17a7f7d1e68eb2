import { join } from "node:path";
import { Client as PgClient } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildConfig } from "../../gateway/config/load-config.ts";
import { checkStorage } from "../../gateway/doctor/storage-check.ts";
import { type Ceph, startCeph } from "../support/ceph.ts";
import { readManifestDigests } from "../support/images.ts";
import { type LoopbackInternet, startLoopbackInternet } from "../support/loopback-internet.ts";
import { type Postgres, startPostgres } from "../support/postgres.ts";
import { createReplicaSet, type ReplicaSet } from "../support/replica-set.ts";
import { runSkopeo, verifiedBlobDigests } from "../support/skopeo.ts";
import { makeTempDir, type TempDir } from "../support/temp-dir.ts";
import type { WharfProcess } from "../support/wharf-process.ts";

let ceph: Ceph;
let pg: Postgres;
let net: LoopbackInternet;
let tmp: TempDir;
const sets: ReplicaSet[] = [];

beforeAll(async () => {
  tmp = await makeTempDir("wharf-e2e-replicas-");
  [ceph, pg, net] = await Promise.all([startCeph(), startPostgres(), startLoopbackInternet()]);
}, 180_000);

afterAll(async () => {
  for (const w of sets.flatMap((s) => s.started)) await w.stop().catch(() => {});
  await net?.stop();
  await pg?.stop();
  await ceph?.stop();
  await tmp?.remove();
});

async function pull(w: WharfProcess, dest: string): Promise<string[]> {
  const host = new URL(w.httpUrl).host;
  await runSkopeo([
    "copy",
    "--src-tls-verify=false",
    `docker://${host}/docker.io/library/busybox:latest`,
    `dir:${dest}`,
  ]);
  return verifiedBlobDigests(dest);
}

describe("three replicas on Ceph and PostgreSQL", () => {
  it("an image pulled through replica 1 is served by replicas 2 and 3 with no upstream request", async () => {
    const set = await createReplicaSet(ceph, pg, net);
    sets.push(set);
    const bb = readManifestDigests("busybox");
    const expected = [bb.config as string, ...bb.layers].sort();
    const [one, two, three] = await Promise.all([set.start(), set.start(), set.start()]);
    if (!one || !two || !three) throw new Error("three replicas");

    const before1 = net.hubProxy.mark();
    expect(await pull(one, join(tmp.path, "one"))).toEqual(expected);
    expect(
      net.hubProxy.count((r) => r.path.includes("/manifests/"), before1),
      "replica 1 asked upstream",
    ).toBeGreaterThan(0);

    // the tag record is shared once the manifest is in the bucket, just after the reply: wait for it
    const db = new PgClient(set.databaseUrl);
    await db.connect();
    for (const deadline = Date.now() + 30_000; ; ) {
      const r = await db.query(
        "SELECT 1 FROM proxy_tags WHERE repository = 'library/busybox' AND tag = 'latest'",
      );
      if (r.rowCount === 1) break;
      if (Date.now() > deadline) throw new Error("replica 1 never shared the tag");
      await new Promise((r) => setTimeout(r, 100));
    }
    await db.end();
    const before2 = net.hubProxy.mark();
    expect(await pull(two, join(tmp.path, "two"))).toEqual(expected);
    expect(await pull(three, join(tmp.path, "three"))).toEqual(expected);
    const seen = net.hubProxy
      .requests(before2)
      .filter((r) => r.path.includes("/library/")) // not the health probes of /v2/
      .map((r) => `${r.method} ${r.path} ${r.status}`);
    expect(seen, "replicas 2 and 3 sent upstream nothing").toEqual([]);
  });

  it("wharf doctor's storage checks: bucket and database reachable, or why not (never the password)", async () => {
    const set = await createReplicaSet(ceph, pg, net);
    const doc = (bucket: string, dbUrl: string) =>
      buildConfig(
        {
          storage: {
            kind: "s3",
            s3: { endpoint: ceph.endpoint, bucket, accessKeyEnv: "AK", secretKeyEnv: "SK" },
            postgres: { urlEnv: "DB" },
          },
        },
        { AK: ceph.accessKey, SK: ceph.secretKey, DB: dbUrl },
      );
    const ok = await checkStorage(doc(set.bucket, set.databaseUrl), 10_000);
    expect(ok.map((c) => [c.name, c.ok])).toEqual([
      ["storage s3", true],
      ["storage postgres", true],
    ]);
    expect(ok[1]?.detail).toMatch(/reachable, empty/);
    const badUrl = set.databaseUrl
      .replace("postgres@", "postgres:pw-not-shown@")
      .replace(/\/[^/]+$/, "/nosuchdb");
    const bad = await checkStorage(doc("no-such-bucket", badUrl), 10_000);
    expect(bad.map((c) => [c.name, c.ok])).toEqual([
      ["storage s3", false],
      ["storage postgres", false],
    ]);
    expect(bad[0]?.detail).toMatch(/404: no such bucket/);
    expect(bad[1]?.detail).toMatch(/nosuchdb/);
    expect(JSON.stringify(bad)).not.toContain("pw-not-shown");
  });
});
