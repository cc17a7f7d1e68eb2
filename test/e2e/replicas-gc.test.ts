// Issue 18, `wharf gc` in a replica set: three wharf replicas on one bucket of a real Ceph sharing a
// real PostgreSQL. gc run beside replica 2 works over the shared index and the bucket: after the
// grace period it removes from the bucket what a deleted manifest alone referenced, keeps a blob
// another repository still references and a blob a proxied image (pulled through replica 1) uses;
// two gc runs at once: one collects, the other exits 75. A push racing gc either keeps its blob or
// is told to upload it again, never links an object that is gone. And a replica whose bucket does
// not answer says so (503) for a blob another replica pushed, rather than failing with a 500.
import { readdir, readFile } from "node:fs/promises";
import { connect, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { HeadObjectCommand } from "@aws-sdk/client-s3";
import { Pool } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Ceph, startCeph } from "../support/ceph.ts";
import { CREDS, HOSTED, USER, writeHtpasswd } from "../support/hosted-wharf.ts";
import { type LoopbackInternet, startLoopbackInternet } from "../support/loopback-internet.ts";
import { makeTestImage, OciPushClient, sha256 } from "../support/oci-push-client.ts";
import { freePort, loopbackIp } from "../support/ports.ts";
import { type Postgres, startPostgres } from "../support/postgres.ts";
import { createReplicaSet, type ReplicaSet, replicaEnv, replicaStorage } from "../support/replica-set.ts";
import { runSkopeo } from "../support/skopeo.ts";
import { makeTempDir, type TempDir } from "../support/temp-dir.ts";
import { runWharfCli, startWharf, type WharfProcess } from "../support/wharf-process.ts";

let ceph: Ceph;
let pg: Postgres;
let net: LoopbackInternet;
let tmp: TempDir;
let set: ReplicaSet;
let replicas: WharfProcess[];

beforeAll(async () => {
  tmp = await makeTempDir("wharf-e2e-replicas-gc-");
  [ceph, pg, net] = await Promise.all([startCeph(), startPostgres(), startLoopbackInternet()]);
  const htpasswd = join(tmp.path, "htpasswd");
  await writeHtpasswd(htpasswd, { [USER.name]: USER.password });
  set = await createReplicaSet(ceph, pg, net);
  const extra = {
    access: { htpasswd },
    registries: {
      [HOSTED]: { hosted: { allowDelete: true } },
      "docker.io": { upstream: net.hubProxy.url },
    },
  };
  replicas = await Promise.all(
    [1, 2, 3].map((i) => set.start({ ...extra, dataDir: join(tmp.path, `r${i}`) })),
  );
}, 240_000);

afterAll(async () => {
  for (const w of set?.started ?? []) await w.stop().catch(() => {});
  await net?.stop();
  await pg?.stop();
  await ceph?.stop();
  await tmp?.remove();
});

const client = (w: WharfProcess) => new OciPushClient({ base: `${w.httpUrl}/v2/${HOSTED}`, creds: CREDS });

function gc(w: WharfProcess, ...args: string[]) {
  return runWharfCli(w, ["gc", ...args], { env: replicaEnv(ceph, set.databaseUrl), timeoutMs: 120_000 });
}

async function inBucket(digest: string): Promise<boolean> {
  try {
    await ceph.client.send(
      new HeadObjectCommand({
        Bucket: set.bucket,
        Key: `wharf/blobs/sha256/${digest.slice("sha256:".length)}`,
      }),
    );
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("wharf gc over a replica set's shared index and bucket", () => {
  it("collects what only a deleted manifest referenced; keeps what another repository or a proxied image uses", async () => {
    const [one, two, three] = replicas as [WharfProcess, WharfProcess, WharfProcess];
    // X: pushed, then its manifest deleted through another replica: nothing references it any more
    const x = makeTestImage(256 * 1024);
    const manifestX = await client(one).pushImage("gc/x", x, "1");
    // S: pushed to two repositories, its manifest deleted from one
    const s = makeTestImage(128 * 1024);
    await client(one).pushImage("gc/a", s, "1");
    await client(three).pushImage("gc/b", s, "1");
    // P: a layer of a proxied image (busybox through replica 1), also pushed as a bare blob
    const dir = join(tmp.path, "busybox");
    await runSkopeo([
      "copy",
      "--src-tls-verify=false",
      `docker://${new URL(one.httpUrl).host}/docker.io/library/busybox:latest`,
      `dir:${dir}`,
    ]);
    const files = (await readdir(dir)).filter((f) => /^[a-f0-9]{64}$/.test(f));
    const sizes = await Promise.all(files.map(async (f) => (await readFile(join(dir, f))).length));
    const biggest = files[sizes.indexOf(Math.max(...sizes))] as string;
    const proxiedLayer = await readFile(join(dir, biggest));
    expect(await client(two).pushBlob("gc/proxied", proxiedLayer)).toBe(sha256(proxiedLayer));
    // the proxy shares its fills after answering: wait for the layer to reach the bucket
    for (let i = 0; i < 40 && !(await inBucket(sha256(proxiedLayer))); i++) await sleep(250);

    for (const [repo, digest] of [
      ["gc/x", manifestX],
      ["gc/a", s.digests.manifest],
    ] as const) {
      const r = await client(three).request("DELETE", `${repo}/manifests/${digest}`);
      expect(r.status, r.body).toBe(202);
    }
    const xDigests = [x.digests.layer, x.digests.config, x.digests.manifest];
    for (const d of xDigests) expect(await inBucket(d)).toBe(true);

    // within the grace period nothing is collected
    const early = await gc(two, "--grace", "1h");
    expect(early.code, early.stderr).toBe(0);
    for (const d of xDigests) expect(await inBucket(d), d).toBe(true);

    await sleep(1500);
    // a dry run counts without removing
    const dry = await gc(two, "--grace", "1s", "--dry-run");
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/would remove/);
    for (const d of xDigests) expect(await inBucket(d), d).toBe(true);

    const run = await gc(two, "--grace", "1s");
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout, run.stdout).toMatch(/from the shared store/);
    for (const d of xDigests) expect(await inBucket(d), `${d} collected`).toBe(false);
    for (const d of [s.digests.layer, s.digests.config, s.digests.manifest])
      expect(await inBucket(d), `${d}: gc/b references it`).toBe(true);
    expect(await inBucket(sha256(proxiedLayer)), "a proxied image uses it").toBe(true);
    expect(
      Number(/(\d+) kept as proxy-cache content/.exec(run.stdout)?.[1]),
      run.stdout,
    ).toBeGreaterThanOrEqual(1);

    // what gc/b references still pulls whole through every replica; X is gone from all of them
    for (const w of replicas) {
      const r = await client(w).request("GET", `gc/b/blobs/${s.digests.layer}`);
      expect(r.status).toBe(200);
      expect((await client(w).request("GET", `gc/x/manifests/${manifestX}`)).status).toBe(404);
    }
    // pushed again after being collected: the client uploads it, and it is served again
    expect(await client(three).pushImage("gc/x", x, "2")).toBe(manifestX);
    expect((await client(one).request("GET", `gc/x/blobs/${x.digests.layer}`)).status).toBe(200);
  }, 240_000);

  it("a push linking a blob gc is collecting either keeps it or is told to upload it again", async () => {
    const [one, two] = replicas as [WharfProcess, WharfProcess];
    const img = makeTestImage(64 * 1024);
    const m = await client(one).pushImage("gc/race", img, "1");
    expect((await client(one).request("DELETE", `gc/race/manifests/${m}`)).status).toBe(202);
    await sleep(1200);
    // gc and a mount of the orphaned layer into another repository, at once
    const [run, mount] = await Promise.all([
      gc(two, "--grace", "1s"),
      client(one).request("POST", `gc/race2/blobs/uploads/?mount=${img.digests.layer}&from=gc/race`),
    ]);
    expect(run.code, run.stderr).toBe(0);
    const layerThere = await inBucket(img.digests.layer);
    if (mount.status === 201) expect(layerThere, "a mounted blob stays").toBe(true);
    // linked or not, what the registry says it holds, it serves
    const get = await client(two).request("GET", `gc/race2/blobs/${img.digests.layer}`);
    expect(get.status === 200 ? layerThere : true).toBe(true);
    if (layerThere) expect([200, 404]).toContain(get.status);
    else expect(get.status).toBe(404);
  }, 120_000);

  it("two gc runs at once: one collects, the other exits 75", async () => {
    const [one, two, three] = replicas as [WharfProcess, WharfProcess, WharfProcess];
    // hold the lease like a long collection would, then race two replicas' gc
    const pool = new Pool({ connectionString: set.databaseUrl, max: 2 });
    try {
      const { tryCollectLease } = await import("../../gateway/store/pg/collect-lease.ts");
      const lease = await tryCollectLease(pool);
      expect(lease).toBeDefined();
      const busy = await gc(three, "--grace", "1s");
      expect(busy.code, `${busy.stdout}${busy.stderr}`).toBe(75);
      expect(busy.stderr).toContain("another replica is collecting");
      await lease?.release();
    } finally {
      await pool.end();
    }
    // started together, two replicas' runs overlap (each holds the lease for its whole run): one
    // collects, the other exits 75. A run may end before the other starts on a fast machine: both
    // then collect in turn, never together; a few tries show the overlap
    const seen: (number | null)[][] = [];
    for (let i = 0; i < 5; i++) {
      const runs = await Promise.all([gc(one, "--grace", "1s"), gc(two, "--grace", "1s")]);
      const codes = runs.map((r) => r.code).sort();
      seen.push(codes);
      expect(codes[0], runs.map((r) => r.stdout + r.stderr).join("\n")).toBe(0);
      expect([0, 75]).toContain(codes[1]);
      if (codes[1] === 75) break;
    }
    expect(seen.at(-1), `exit codes of each try: ${JSON.stringify(seen)}`).toEqual([0, 75]);
  }, 120_000);

  it("a blob another replica pushed, read while this replica's bucket does not answer: 503", async () => {
    const [one] = replicas as [WharfProcess];
    const img = makeTestImage(64 * 1024);
    await client(one).pushImage("gc/outage", img, "1");
    // replica 4 reaches the bucket through a relay the test can cut
    const rgw = new URL(ceph.endpoint);
    const sockets = new Set<Socket>();
    const relay: Server = createServer((c) => {
      const up = connect(Number(rgw.port), rgw.hostname);
      for (const s of [c, up]) {
        sockets.add(s);
        s.on("error", () => {});
        s.on("close", () => sockets.delete(s));
      }
      c.pipe(up).pipe(c);
    });
    const ip = loopbackIp();
    await new Promise<void>((r) => relay.listen(0, ip, r));
    const port = (relay.address() as { port: number }).port;
    const first = one.config as { access: unknown; registries: unknown; upstreamCaFile: unknown };
    const four = await startWharf({
      config: {
        listen: { http: `${loopbackIp()}:5000` },
        upstreamCaFile: first.upstreamCaFile,
        upstreamDns: `127.0.0.1:${await freePort()}`,
        access: first.access,
        registries: first.registries,
        dataDir: join(tmp.path, "r4"),
        storage: replicaStorage({ endpoint: `http://${ip}:${port}`, bucket: set.bucket }),
      },
      env: replicaEnv(ceph, set.databaseUrl),
    });
    try {
      // no new connection, and the replica's kept-alive ones cut
      const closed = new Promise<void>((r) => relay.close(() => r()));
      for (const s of sockets) s.destroy();
      await closed;
      for (const method of ["HEAD", "GET"]) {
        const r = await client(four).request(method, `gc/outage/blobs/${img.digests.layer}`);
        expect(r.status, `${method}: ${r.body}`).toBe(503);
      }
    } finally {
      await four.stop();
    }
  }, 120_000);
});
