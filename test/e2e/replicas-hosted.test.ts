// Issue 18, hosted content in a replica set: three wharf replicas on one bucket of a real Ceph
// (RADOS Gateway) sharing a real PostgreSQL. A push whose POST, PATCHes and PUT land on different
// replicas completes; skopeo pulls the image back through a third replica with every digest
// verified; tags and the manifest are visible from every replica; a chunk out of order, or one that
// lost the race for its offset on another replica, is answered 416; no upload piece is left in the
// bucket. Identities are the set's: a Bearer token one replica issued is good on another, a robot
// token created with the CLI beside a third works on the first and stops everywhere once revoked.
// Then the OCI conformance suite (all four workflows) against a replica, and round-robin across
// all three (a token issued by one replica is presented to the next).
import { randomBytes } from "node:crypto";
import { mkdir, readFile } from "node:fs/promises";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TOKEN_PATH } from "../../gateway/access/authenticator.ts";
import { type Ceph, startCeph } from "../support/ceph.ts";
import { CREDS, HOSTED, USER, writeHtpasswd } from "../support/hosted-wharf.ts";
import { type LoopbackInternet, startLoopbackInternet } from "../support/loopback-internet.ts";
import { assertConformanceSuite, runConformance } from "../support/oci-conformance.ts";
import { makeTestImage, OciPushClient, sha256 } from "../support/oci-push-client.ts";
import { loopbackIp } from "../support/ports.ts";
import { type Postgres, startPostgres } from "../support/postgres.ts";
import { createReplicaSet, type ReplicaSet, replicaEnv } from "../support/replica-set.ts";
import { runSkopeo, verifiedBlobDigests } from "../support/skopeo.ts";
import { makeTempDir, type TempDir } from "../support/temp-dir.ts";
import type { WharfProcess } from "../support/wharf-process.ts";
import { runWharfCli } from "../support/wharf-process.ts";

const MiB = 1024 * 1024;
let ceph: Ceph;
let pg: Postgres;
let net: LoopbackInternet;
let tmp: TempDir;
let set: ReplicaSet;
let replicas: WharfProcess[];
/** Starts one more replica of the set (its own dataDir). */
let startReplica: (i: number) => Promise<WharfProcess>;

beforeAll(async () => {
  assertConformanceSuite();
  tmp = await makeTempDir("wharf-e2e-replicas-hosted-");
  [ceph, pg, net] = await Promise.all([startCeph(), startPostgres(), startLoopbackInternet()]);
  const htpasswd = join(tmp.path, "htpasswd");
  await writeHtpasswd(htpasswd, { [USER.name]: USER.password });
  set = await createReplicaSet(ceph, pg, net);
  const extra = {
    access: { htpasswd },
    registries: {
      [HOSTED]: { hosted: { allowDelete: true } },
      // sessions idle for a second are swept (by whichever replica starts an upload next)
      "short.internal": { hosted: { uploadTtl: "1s" } },
      "docker.io": { upstream: net.hubProxy.url },
    },
  };
  // no token key is copied into the dataDirs: the replicas share theirs in PostgreSQL
  startReplica = async (i: number) => {
    const dataDir = join(tmp.path, `replica-${i}`);
    await mkdir(dataDir, { recursive: true });
    return set.start({ ...extra, dataDir });
  };
  replicas = await Promise.all([startReplica(1), startReplica(2), startReplica(3)]);
}, 240_000);

afterAll(async () => {
  for (const w of set?.started ?? []) await w.stop().catch(() => {});
  await net?.stop();
  await pg?.stop();
  await ceph?.stop();
  await tmp?.remove();
});

const client = (w: WharfProcess) => new OciPushClient({ base: `${w.httpUrl}/v2/${HOSTED}`, creds: CREDS });

/** The path (and query) of a Location: the next request goes to another replica's host. */
const pathOf = (location: string | null | undefined): string => {
  if (!location) throw new Error("no Location");
  const u = new URL(location, "http://placeholder");
  return u.pathname + u.search;
};

/** A body sent without Content-Length (chunked): the streamed PATCH docker and containerd send. */
function streamed(data: Buffer): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(c) {
      if (at >= data.length) return c.close();
      c.enqueue(new Uint8Array(data.subarray(at, at + 256 * 1024)));
      at += 256 * 1024;
    },
  });
}

/**
 * A round-robin front: each request goes to the next replica, as a load balancer without session
 * affinity would send them (bodies streamed both ways, Location untouched: it is root-relative).
 */
async function roundRobin(targets: WharfProcess[]): Promise<Server & { url: string }> {
  let next = 0;
  const server = createServer((req, res) => {
    const target = new URL((targets[next++ % targets.length] as WharfProcess).httpUrl);
    const up = request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    up.on("error", () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, loopbackIp(), resolve));
  const { address, port } = server.address() as AddressInfo;
  return Object.assign(server, { url: `http://${address}:${port}` });
}

async function uploadPieces(): Promise<string[]> {
  const r = await ceph.client.send(
    new ListObjectsV2Command({ Bucket: set.bucket, Prefix: "wharf/uploads/" }),
  );
  return (r.Contents ?? []).map((o) => o.Key ?? "");
}

/** A GET to `w` presenting `host` (the name clients reach the set by) and `authorization`. */
function getAs(
  w: WharfProcess,
  path: string,
  host: string,
  authorization?: string,
): Promise<{ status: number; body: string }> {
  const target = new URL(w.httpUrl);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: target.hostname,
        port: target.port,
        path,
        headers: { host, ...(authorization && { authorization }) },
        timeout: 15_000,
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          body += c;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`GET ${path}: timeout`)));
    req.on("error", reject);
    req.end();
  });
}

/** `wharf <args> --config <w's file>`: the CLI beside replica `w`. */
function wharfCli(w: WharfProcess, ...args: string[]) {
  return runWharfCli(w, args, { env: replicaEnv(ceph, set.databaseUrl) });
}

describe("hosted registry across three replicas on Ceph and PostgreSQL", () => {
  it("identities are the set's: tokens verify on every replica, robot tokens and revocations hold on all", async () => {
    const [one, two, three] = replicas as [WharfProcess, WharfProcess, WharfProcess];
    const repo = "ids/app";
    const image = makeTestImage(64 * 1024);
    await client(one).pushImage(repo, image, "1");
    const host = new URL(one.httpUrl).host; // the one name clients use, whichever replica answers
    const scope = `repository:${HOSTED}/${repo}:pull`;
    const tags = `/v2/${HOSTED}/${repo}/tags/list`;
    const basic = `Basic ${Buffer.from(CREDS).toString("base64")}`;
    const issued = await getAs(one, `${TOKEN_PATH}?service=${host}&scope=${scope}`, host, basic);
    expect(issued.status, issued.body).toBe(200);
    const bearer = `Bearer ${(JSON.parse(issued.body) as { token: string }).token}`;
    for (const w of [one, two, three]) {
      const r = await getAs(w, tags, host, bearer);
      expect(r.status, `replica ${w.httpUrl}: ${r.body}`).toBe(200);
      expect(JSON.parse(r.body).tags).toEqual(["1"]);
    }
    // a token signed with another key (what each replica made alone before) is refused
    const forged = `${bearer.slice(0, -4)}AAAA`;
    expect((await getAs(two, tags, host, forged)).status).toBe(401);

    const created = await wharfCli(
      three,
      "token",
      "create",
      "--name",
      "ci-bot",
      "--scope",
      `${HOSTED}/ids/*:pull`,
    );
    expect(created.code, created.stderr).toBe(0);
    const robot = `Basic ${Buffer.from(`ci-bot:${created.stdout.trim()}`).toString("base64")}`;
    const listed = await wharfCli(one, "token", "ls");
    expect(listed.stdout).toContain("ci-bot");
    for (const w of [one, two, three]) expect((await getAs(w, tags, host, robot)).status).toBe(200);
    // a Bearer token replica 1 issued to the robot, presented to replica 2
    const robotIssued = await getAs(one, `${TOKEN_PATH}?service=${host}&scope=${scope}`, host, robot);
    expect(robotIssued.status, robotIssued.body).toBe(200);
    const robotBearer = `Bearer ${(JSON.parse(robotIssued.body) as { token: string }).token}`;
    expect((await getAs(two, tags, host, robotBearer)).status).toBe(200);

    const revoked = await wharfCli(two, "token", "revoke", "ci-bot");
    expect(revoked.code, revoked.stderr).toBe(0);
    for (const w of [one, two, three]) {
      expect((await getAs(w, tags, host, robot)).status, `basic on ${w.httpUrl}`).toBe(401);
      expect((await getAs(w, tags, host, robotBearer)).status, `bearer on ${w.httpUrl}`).toBe(401);
    }
  }, 120_000);

  it("a push spread over the replicas is pulled through another, and seen by every one", async () => {
    const [one, two, three] = replicas as [WharfProcess, WharfProcess, WharfProcess];
    const [c1, c2, c3] = [client(one), client(two), client(three)];
    // 12 MiB: the streamed first chunk (9 MiB) is stored as more than one piece
    const image = makeTestImage(12 * MiB);
    const repo = "team/app";

    // layer: POST on 1, a streamed PATCH on 2, a ranged PATCH on 3, PUT on 1
    let loc = await c1.startUpload(repo);
    const first = image.layer.subarray(0, 9 * MiB);
    let r = await c2.request("PATCH", pathOf(loc), {
      body: streamed(first),
      headers: { "content-type": "application/octet-stream" },
    });
    expect(r.status, r.body).toBe(202);
    expect(r.headers.get("range")).toBe(`0-${9 * MiB - 1}`);
    loc = pathOf(r.headers.get("location"));

    // out of order on replica 3 (skips a byte), then a replay of the first chunk on replica 1
    // (it lost the race for offset 0): both 416 with the accepted range, nothing written
    r = await c3.patch(loc, image.layer.subarray(9 * MiB + 1, 10 * MiB), 9 * MiB + 1);
    expect(r.status).toBe(416);
    expect(r.headers.get("range")).toBe(`0-${9 * MiB - 1}`);
    r = await c1.patch(loc, first.subarray(0, MiB), 0);
    expect(r.status).toBe(416);
    expect(r.headers.get("range")).toBe(`0-${9 * MiB - 1}`);

    r = await c3.patch(loc, image.layer.subarray(9 * MiB), 9 * MiB);
    expect(r.status, r.body).toBe(202);
    expect(r.headers.get("range")).toBe(`0-${image.layer.length - 1}`);
    const status = await c2.request("GET", pathOf(r.headers.get("location")));
    expect(status.status).toBe(204);
    expect(status.headers.get("range")).toBe(`0-${image.layer.length - 1}`);
    r = await c1.finish(pathOf(r.headers.get("location")), image.digests.layer);
    expect(r.status, r.body).toBe(201);
    expect(r.headers.get("docker-content-digest")).toBe(image.digests.layer);

    // config: POST on 2, monolithic PUT with the body on 3
    loc = await c2.startUpload(repo);
    r = await c3.finish(pathOf(loc), image.digests.config, image.config);
    expect(r.status, r.body).toBe(201);

    // a wrong digest on finish discards the session (on any replica)
    loc = await c3.startUpload(repo);
    r = await c3.patch(pathOf(loc), Buffer.from("not the config"), 0);
    r = await c2.finish(pathOf(r.headers.get("location")), image.digests.config);
    expect(r.status).toBe(400);
    expect(r.code).toBe("DIGEST_INVALID");
    expect((await c1.request("GET", pathOf(loc))).status).toBe(404);

    // manifest through replica 1
    r = await c1.putManifest(repo, "v1", image.manifest);
    expect(r.status, r.body).toBe(201);
    expect(r.headers.get("docker-content-digest")).toBe(image.digests.manifest);

    for (const [i, c] of [c1, c2, c3].entries()) {
      expect(await c.tags(repo), `tags/list on replica ${i + 1}`).toEqual(["v1"]);
      const m = await c.request("GET", `${repo}/manifests/v1`, {
        headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
      });
      expect(m.status, `manifest on replica ${i + 1}`).toBe(200);
      expect(m.headers.get("docker-content-digest")).toBe(image.digests.manifest);
      expect(sha256(Buffer.from(m.body))).toBe(image.digests.manifest);
      const head = await c.request("HEAD", `${repo}/blobs/${image.digests.layer}`);
      expect(head.status, `layer HEAD on replica ${i + 1}`).toBe(200);
      expect(head.headers.get("content-length")).toBe(String(image.layer.length));
    }

    // skopeo pulls it through replica 3 (which saw only a PATCH and a PUT of the config)
    const dest = join(tmp.path, "pulled");
    await runSkopeo([
      "copy",
      "--src-tls-verify=false",
      `--src-creds=${CREDS}`,
      `docker://${new URL(three.httpUrl).host}/${HOSTED}/${repo}:v1`,
      `dir:${dest}`,
    ]);
    const got = await verifiedBlobDigests(dest);
    expect(got).toEqual([image.digests.config, image.digests.layer].sort());
    expect(sha256(await readFile(join(dest, "manifest.json")))).toBe(image.digests.manifest);

    // every finished or discarded session took its pieces with it
    expect(await uploadPieces()).toEqual([]);
  }, 240_000);

  it("two chunks racing for one offset on two replicas: one is accepted, the other gets 416", async () => {
    const [one, two, three] = replicas as [WharfProcess, WharfProcess, WharfProcess];
    for (let round = 0; round < 3; round++) {
      const loc = pathOf(await client(one).startUpload("team/race"));
      const a = randomBytes(2 * MiB);
      const b = randomBytes(2 * MiB);
      const replies = await Promise.all([client(two).patch(loc, a, 0), client(three).patch(loc, b, 0)]);
      expect(replies.map((r) => r.status).sort()).toEqual([202, 416]);
      const winner = replies[0]?.status === 202 ? a : b;
      const done = await client(one).finish(loc, sha256(winner));
      expect(done.status, "the accepted chunk's bytes, unmixed").toBe(201);
    }
    expect(await uploadPieces()).toEqual([]);
  }, 60_000);

  it("a 64 MiB layer streamed in one PATCH to one replica and finished on another (figures)", async () => {
    const [one, two, three] = replicas as [WharfProcess, WharfProcess, WharfProcess];
    const layer = randomBytes(64 * MiB);
    const t0 = Date.now();
    const loc = pathOf(await client(one).startUpload("team/big"));
    const r = await client(two).request("PATCH", loc, {
      body: streamed(layer),
      headers: { "content-type": "application/octet-stream" },
    });
    expect(r.status, r.body).toBe(202);
    const t1 = Date.now();
    const done = await client(three).finish(pathOf(r.headers.get("location")), sha256(layer));
    expect(done.status, done.body).toBe(201);
    const t2 = Date.now();
    const got = await fetch(`${one.httpUrl}/v2/${HOSTED}/team/big/blobs/${sha256(layer)}`, {
      headers: { authorization: `Basic ${Buffer.from(CREDS).toString("base64")}` },
    });
    expect(sha256(Buffer.from(await got.arrayBuffer()))).toBe(sha256(layer));
    const t3 = Date.now();
    console.info(
      `64 MiB across replicas: PATCH (8 pieces to the bucket) ${t1 - t0} ms, PUT (verify + write the blob) ${t2 - t1} ms, first GET on a third replica ${t3 - t2} ms`,
    );
    expect(await uploadPieces()).toEqual([]);
  }, 120_000);

  it("a replica killed in the middle of a chunk: the upload goes on elsewhere from the accepted offset", async () => {
    const [one, two, three] = replicas as [WharfProcess, WharfProcess, WharfProcess];
    const doomed = await startReplica(4);
    const data = randomBytes(24 * MiB);
    const loc = pathOf(await client(one).startUpload("team/crash"));
    expect((await client(doomed).patch(loc, data.subarray(0, MiB), 0)).status).toBe(202);
    // a streamed chunk: once 12 MiB are sent (one 8 MiB piece is in the bucket), SIGKILL
    let at = MiB;
    const body = new ReadableStream<Uint8Array>({
      async pull(c) {
        if (at >= 13 * MiB) {
          await new Promise((r) => setTimeout(r, 1500));
          doomed.kill("SIGKILL");
          await new Promise((r) => setTimeout(r, 500));
          return c.error(new Error("the replica is gone"));
        }
        c.enqueue(new Uint8Array(data.subarray(at, at + 256 * 1024)));
        at += 256 * 1024;
      },
    });
    const cut = await client(doomed)
      .request("PATCH", loc, { body, headers: { "content-type": "application/octet-stream" } })
      .then(
        (r) => r.status,
        () => "failed",
      );
    expect(cut).not.toBe(202);
    await doomed.exited;
    const id = loc.split("/").pop()?.split("?")[0] ?? "";
    const stray = (await uploadPieces()).filter((k) => k.includes(id));
    expect(stray.length, "the accepted piece and the killed chunk's stored piece").toBeGreaterThanOrEqual(2);
    // nothing of the cut chunk was accepted: the client resumes from 1 MiB on another replica
    const status = await client(two).request("GET", loc);
    expect(status.status).toBe(204);
    expect(status.headers.get("range")).toBe(`0-${MiB - 1}`);
    const r = await client(three).patch(loc, data.subarray(MiB), MiB);
    expect(r.status, r.body).toBe(202);
    const done = await client(two).finish(pathOf(r.headers.get("location")), sha256(data));
    expect(done.status, done.body).toBe(201);
    // the killed replica's stray piece went with the session
    expect(await uploadPieces()).toEqual([]);
    const got = await fetch(`${one.httpUrl}/v2/${HOSTED}/team/crash/blobs/${sha256(data)}`, {
      headers: { authorization: `Basic ${Buffer.from(CREDS).toString("base64")}` },
    });
    expect(sha256(Buffer.from(await got.arrayBuffer()))).toBe(sha256(data));
  }, 120_000);

  it("a cancelled upload leaves no piece behind", async () => {
    const [one, two] = replicas as [WharfProcess, WharfProcess];
    const loc = await client(one).startUpload("team/cancel");
    const r = await client(two).patch(pathOf(loc), Buffer.alloc(MiB, 7), 0);
    expect(r.status).toBe(202);
    expect((await uploadPieces()).length).toBeGreaterThan(0);
    const d = await client(one).request("DELETE", pathOf(loc));
    expect(d.status).toBe(204);
    expect(await uploadPieces()).toEqual([]);
    expect((await client(two).request("GET", pathOf(loc))).status).toBe(404);
  }, 60_000);

  it("an upload idle past uploadTtl is swept with its pieces by another replica", async () => {
    const [one, two, three] = replicas as [WharfProcess, WharfProcess, WharfProcess];
    const short = (w: WharfProcess) =>
      new OciPushClient({ base: `${w.httpUrl}/v2/short.internal`, creds: CREDS });
    const loc = pathOf(await short(one).startUpload("idle"));
    expect((await short(two).patch(loc, Buffer.alloc(4096, 1), 0)).status).toBe(202);
    const id = loc.split("/").pop()?.split("?")[0] ?? "";
    expect((await uploadPieces()).some((k) => k.includes(id))).toBe(true);
    await new Promise((r) => setTimeout(r, 1500));
    await short(three).startUpload("other"); // replica 3's first upload here: it sweeps
    const deadline = Date.now() + 10_000;
    while ((await short(one).request("GET", loc)).status !== 404 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 200));
    expect((await short(one).request("GET", loc)).status).toBe(404);
    expect((await uploadPieces()).some((k) => k.includes(id))).toBe(false);
  }, 60_000);

  it("passes the OCI conformance suite's four workflows against one replica", async () => {
    const w = replicas[1] as WharfProcess;
    const s = await runConformance({
      root: w.httpUrl,
      namespace: `${HOSTED}/conformance/one`,
      workflows: "pull,push,discovery,management",
      env: { OCI_USERNAME: USER.name, OCI_PASSWORD: USER.password },
      reportDir: join(tmp.path, "one"),
    });
    expect(s.failed, s.failures).toBe(0);
    expect(s.passed).toBeGreaterThanOrEqual(60);
  }, 320_000);

  it("passes them too with every request sent to the next replica in turn", async () => {
    const front = await roundRobin(replicas);
    try {
      const s = await runConformance({
        root: front.url,
        namespace: `${HOSTED}/conformance/spread`,
        workflows: "pull,push,discovery,management",
        env: { OCI_USERNAME: USER.name, OCI_PASSWORD: USER.password },
        reportDir: join(tmp.path, "spread"),
      });
      expect(s.failed, s.failures).toBe(0);
      expect(s.passed).toBeGreaterThanOrEqual(60);
    } finally {
      front.closeAllConnections();
      await new Promise((r) => front.close(r));
    }
  }, 320_000);
});
