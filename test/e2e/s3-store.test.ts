// Issue 18, first slice, end to end: wharf replicas with `storage.kind: s3` on a real single-node
// Ceph (RADOS Gateway) started by the harness, a real docker-registry upstream and skopeo. An image
// pulled through replica 1 lands in the bucket (exactly its blobs, re-hashed from the bucket); a
// second replica with its own dataDir serves the image's blobs from the bucket without one upstream
// blob request (its tags and manifests are still revalidated upstream: metadata is per replica in
// this slice); `wharf cache verify` re-hashes the bucket and quarantines a tampered object. Three
// replicas with nine clients on one uncached layer fetch it upstream once (a lease in the bucket);
// when the lease holder is killed mid-fill another replica takes over; and the OCI conformance
// suite's pull workflow passes against a replica serving from the bucket.
import { createHash } from "node:crypto";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitForCount } from "../support/access-log.ts";
import { type Ceph, startCeph } from "../support/ceph.ts";
import { readManifestDigests } from "../support/images.ts";
import { type LoopbackInternet, startLoopbackInternet } from "../support/loopback-internet.ts";
import { assertConformanceSuite, runConformance } from "../support/oci-conformance.ts";
import { freePort, loopbackIp } from "../support/ports.ts";
import { runCommand } from "../support/run-command.ts";
import { runSkopeo, verifiedBlobDigests } from "../support/skopeo.ts";
import { makeTempDir, type TempDir } from "../support/temp-dir.ts";
import { fetchDigest } from "../support/wharf-client.ts";
import { REPO_ROOT, runWharfCli, startWharf, type WharfProcess } from "../support/wharf-process.ts";

const PREFIX = "wharf/";
let ceph: Ceph;
let net: LoopbackInternet;
let tmp: TempDir;
const replicas: WharfProcess[] = [];

beforeAll(async () => {
  tmp = await makeTempDir("wharf-e2e-s3-");
  [ceph, net] = await Promise.all([startCeph(), startLoopbackInternet()]);
}, 180_000);

afterAll(async () => {
  for (const w of replicas) await w.stop().catch(() => {});
  await net?.stop();
  await ceph?.stop();
  await tmp?.remove();
});

const s3Env = () => ({ ...process.env, S3_ACCESS: ceph.accessKey, S3_SECRET: ceph.secretKey });

async function startReplica(
  bucket: string,
  extra: Record<string, unknown> = {},
  leaseTime = "30s",
): Promise<{ w: WharfProcess; ip: string }> {
  const ip = loopbackIp();
  const w = await startWharf({
    config: {
      ...extra,
      listen: { http: `${ip}:5000` },
      upstreamCaFile: net.ca.caCert,
      upstreamDns: `127.0.0.1:${await freePort()}`,
      registries: { "docker.io": { upstream: net.hubProxy.url } },
      storage: {
        kind: "s3",
        s3: {
          endpoint: ceph.endpoint,
          bucket,
          prefix: PREFIX,
          accessKeyEnv: "S3_ACCESS",
          secretKeyEnv: "S3_SECRET",
          leaseTime,
        },
      },
    },
    env: s3Env(),
  });
  replicas.push(w);
  return { w, ip };
}

/** digest -> bytes of every blob object in the bucket (read back from Ceph). */
async function bucketBlobs(bucket: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const list = await ceph.client.send(
    new ListObjectsV2Command({ Bucket: bucket, Prefix: `${PREFIX}blobs/` }),
  );
  for (const o of list.Contents ?? []) {
    const key = o.Key as string;
    const r = await ceph.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    out.set(
      key.slice(`${PREFIX}blobs/`.length).replace("/", ":"),
      Buffer.from(await r.Body!.transformToByteArray()),
    );
  }
  return out;
}

async function pull(ip: string, dest: string): Promise<void> {
  await runSkopeo([
    "copy",
    "--src-tls-verify=false",
    `docker://${ip}:5000/docker.io/library/busybox:latest`,
    `dir:${dest}`,
  ]);
}

describe("storage.kind s3 on Ceph RGW", () => {
  it("replica 1 fills the bucket; replica 2 serves from it with no upstream blob request; verify finds tampering", async () => {
    const bucket = await ceph.createBucket();
    const bb = readManifestDigests("busybox");
    expect(bb.manifests, "busybox is a plain image in the test layout").toEqual([]);
    const imageBlobs = [bb.manifest, bb.config as string, ...bb.layers].sort();
    const upstreamBlobGets = (since: number) =>
      net.hubProxy.count((r) => r.path.includes("/blobs/") && r.status !== 401, since);

    const one = await startReplica(bucket);
    const before1 = net.hubProxy.mark();
    await pull(one.ip, join(tmp.path, "one"));
    expect(await verifiedBlobDigests(join(tmp.path, "one"))).toEqual(
      [bb.config as string, ...bb.layers].sort(),
    );
    expect(upstreamBlobGets(before1), "replica 1 fetched each blob from upstream").toBeGreaterThan(0);

    // uploads follow the local commit: wait (bounded) until the bucket holds the whole image
    let stored = new Map<string, Buffer>();
    for (const deadline = Date.now() + 20_000; Date.now() < deadline; ) {
      stored = await bucketBlobs(bucket);
      if (stored.size >= imageBlobs.length) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect([...stored.keys()].sort(), "the bucket holds exactly the image's blobs").toEqual(imageBlobs);
    for (const [digest, bytes] of stored)
      expect(`sha256:${createHash("sha256").update(bytes).digest("hex")}`, `bucket object ${digest}`).toBe(
        digest,
      );

    // replica 2: its own empty dataDir, the same bucket
    const two = await startReplica(bucket);
    const before2 = net.hubProxy.mark();
    await pull(two.ip, join(tmp.path, "two"));
    expect(await verifiedBlobDigests(join(tmp.path, "two"))).toEqual(
      [bb.config as string, ...bb.layers].sort(),
    );
    expect(upstreamBlobGets(before2), "replica 2 asked upstream for no blob").toBe(0);
    // a HEAD of a layer it has not read yet (a third replica here) is answered from the bucket too
    const three = await startReplica(bucket, { cache: { prefetch: 0 } });
    const base = `${three.w.httpUrl}/v2/docker.io/library/busybox`;
    const m = await fetch(`${base}/manifests/latest`, { headers: { accept: bb.mediaType } });
    expect(m.status).toBe(200);
    await m.arrayBuffer();
    const head = await fetch(`${base}/blobs/${bb.layers[0]}`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(Number(head.headers.get("content-length"))).toBe(bb.layerSizes[0]);
    expect(upstreamBlobGets(before2), "nor replica 3 for a HEAD").toBe(0);
    // and now serves from its own disk: the bucket is read once per blob, not per request
    const local = await readdir(join(String(two.w.config.dataDir), "blobs", "sha256"), { recursive: true });
    for (const d of [bb.config as string, ...bb.layers])
      expect(local.some((f) => f.endsWith(d.slice(7)))).toBe(true);

    // `wharf cache verify` over the bucket: clean, then one object overwritten with wrong bytes
    const cli = (args: string[]) => runWharfCli(two.w, args, { env: s3Env() });
    const clean = await cli(["cache", "verify"]);
    expect(clean.code, clean.stderr).toBe(0);
    expect(clean.stdout).toContain(`verified ${imageBlobs.length} blob(s) in the shared store`);
    expect(clean.stdout).toMatch(/in the shared store, .*; 0 quarantined/);

    const victim = bb.layers[0] as string;
    const victimKey = `${PREFIX}blobs/sha256/${victim.slice(7)}`;
    await ceph.client.send(
      new PutObjectCommand({ Bucket: bucket, Key: victimKey, Body: Buffer.from("not the layer") }),
    );
    const bad = await cli(["cache", "verify"]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain(`quarantined in the shared store ${victim}`);
    const gone = await ceph.client
      .send(new HeadObjectCommand({ Bucket: bucket, Key: victimKey }))
      .catch((e) => e);
    expect(gone.$metadata?.httpStatusCode).toBe(404);
    const aside = await ceph.client.send(
      new HeadObjectCommand({ Bucket: bucket, Key: `${PREFIX}quarantine/sha256-${victim.slice(7)}` }),
    );
    expect(aside.ContentLength).toBe("not the layer".length);
  }, 240_000);

  it("3 replicas x 3 clients on one uncached layer: one upstream GET (a fill lease in the bucket), every digest verified", async () => {
    const bucket = await ceph.createBucket();
    const big = readManifestDigests("big");
    const sizes = big.layerSizes;
    const layer = big.layers[sizes.indexOf(Math.max(...sizes))] as string;
    const three = await Promise.all([0, 1, 2].map(() => startReplica(bucket, { cache: { prefetch: 0 } })));
    // each replica serves the tag first (per-replica metadata: that links the image's blobs)
    for (const { w } of three) {
      const res = await fetch(`${w.httpUrl}/v2/docker.io/library/big/manifests/latest`, {
        headers: { accept: big.mediaType },
      });
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    }
    const layerGets = (since: number) =>
      net.hubProxy.count((r) => r.method === "GET" && r.path.endsWith(layer) && r.status !== 401, since);
    const since = net.hubProxy.mark();
    // the first upstream answer is held back, so that every replica asks while the fill runs
    net.hubProxy.setRule(layer, { kind: "delay", ms: 1500, methods: ["GET"], times: 1 });
    const started = Date.now();
    const results = await Promise.all(
      three.flatMap(({ w }) =>
        [0, 1, 2].map(() => fetchDigest(`${w.httpUrl}/v2/docker.io/library/big/blobs/${layer}`)),
      ),
    );
    const ms = Date.now() - started;
    for (const r of results)
      expect(r).toMatchObject({ status: 200, digest: layer, bytes: Math.max(...sizes) });
    expect(layerGets(since), "one upstream GET of the layer across 3 replicas").toBe(1);
    console.log(
      `9 clients on 3 replicas, ${Math.max(...sizes) >> 20} MiB layer: last client done after ${ms} ms`,
    );
    // the lease is gone once the blob is in the bucket
    const leases = await ceph.client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: `${PREFIX}leases/` }),
    );
    expect(leases.Contents ?? []).toEqual([]);
  }, 240_000);

  it("the filling replica killed mid-fill: its lease expires, another takes over, the bucket stays clean", async () => {
    const bucket = await ceph.createBucket();
    const big = readManifestDigests("big");
    const size = Math.max(...big.layerSizes);
    const layer = big.layers[big.layerSizes.indexOf(size)] as string;
    const storage = { cache: { prefetch: 0 } };
    const [a, b] = await Promise.all([
      startReplica(bucket, storage, "2s"),
      startReplica(bucket, storage, "2s"),
    ]);
    for (const { w } of [a, b]) {
      const res = await fetch(`${w.httpUrl}/v2/docker.io/library/big/manifests/latest`, {
        headers: { accept: big.mediaType },
      });
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    }
    const layerGets = (since: number) =>
      net.hubProxy.count((r) => r.method === "GET" && r.path.endsWith(layer) && r.authorization, since);
    const since = net.hubProxy.mark();
    // replica A takes the lease and is then stuck on upstream (its answer is held back 5 s)
    net.hubProxy.setRule(layer, { kind: "delay", ms: 5000, methods: ["GET"], times: 1 });
    const url = (w: WharfProcess) => `${w.httpUrl}/v2/docker.io/library/big/blobs/${layer}`;
    const onA = fetchDigest(url(a.w)).catch((e: Error) => e);
    expect(await waitForCount(() => layerGets(since), 1, 10_000)).toBe(1);
    const leaseKey = `${PREFIX}leases/sha256/${layer.slice(7)}`;
    expect(
      (await ceph.client.send(new HeadObjectCommand({ Bucket: bucket, Key: leaseKey }))).ContentLength,
    ).toBeGreaterThan(0);
    const started = Date.now();
    const onB = fetchDigest(url(b.w));
    await new Promise((r) => setTimeout(r, 500)); // B is waiting on A's lease
    a.w.kill("SIGKILL");
    expect(await onA).toBeInstanceOf(Error);
    expect(await onB).toMatchObject({ status: 200, digest: layer, bytes: size });
    const ms = Date.now() - started;
    expect(layerGets(since), "A's GET (killed) and B's after the takeover").toBe(2);
    console.log(`takeover after the holder was killed: B's client done ${ms} ms after it asked (lease 2s)`);
    // B uploads once its fill is verified: then the bucket holds the layer whole, and nothing corrupt
    const layerKey = `${PREFIX}blobs/sha256/${layer.slice(7)}`;
    for (let i = 0; i < 100; i++) {
      const h = await ceph.client
        .send(new HeadObjectCommand({ Bucket: bucket, Key: layerKey }))
        .catch(() => undefined);
      if (h) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const cli = await runCommand(
      [
        join(REPO_ROOT, "node_modules", ".bin", "node"),
        join(REPO_ROOT, "bin", "wharf.mjs"),
        "cache",
        "verify",
        "--config",
        join(b.w.dir, "wharf.yml"),
      ],
      { allowFailure: true, env: s3Env(), timeoutMs: 120_000 },
    );
    expect(cli.code, cli.stdout + cli.stderr).toBe(0);
    expect(cli.stdout).toMatch(/in the shared store, .*; 0 quarantined/);
    const stored = await bucketBlobs(bucket);
    expect(
      createHash("sha256")
        .update(stored.get(layer) ?? Buffer.alloc(0))
        .digest("hex"),
    ).toBe(layer.slice(7));
  }, 240_000);

  it("the OCI conformance suite (pull workflow) passes against a replica serving from the bucket", async () => {
    assertConformanceSuite();
    const bucket = await ceph.createBucket();
    const bb = readManifestDigests("busybox");
    const one = await startReplica(bucket);
    await pull(one.ip, join(tmp.path, "conformance-fill"));
    const config = `${PREFIX}blobs/sha256/${(bb.config as string).slice(7)}`;
    for (let i = 0; i < 100; i++) {
      if (
        await ceph.client.send(new HeadObjectCommand({ Bucket: bucket, Key: config })).catch(() => undefined)
      )
        break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const two = await startReplica(bucket);
    const since = net.hubProxy.mark();
    const s = await runConformance({
      root: two.w.httpUrl,
      namespace: "docker.io/library/busybox",
      workflows: "pull",
      env: { OCI_TAG_NAME: "latest", OCI_MANIFEST_DIGEST: bb.manifest, OCI_BLOB_DIGEST: bb.config as string },
      reportDir: tmp.path,
    });
    expect(s.failed, s.failures).toBe(0);
    expect(s.passed).toBeGreaterThanOrEqual(10);
    const configGets = net.hubProxy.count(
      (r) => r.method === "GET" && r.path.endsWith(bb.config as string) && r.status !== 401,
      since,
    );
    expect(configGets, "the suite's blob was served from the bucket").toBe(0);
  }, 320_000);
});
