// Issue 7: fewer counted pulls, serving through upstream trouble. Counts come from the tamper
// proxy in front of a real docker-registry (token auth, like Docker Hub).
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readManifestDigests } from "../support/images.ts";
import {
  type LoopbackInternet,
  PRIVATE_PASSWORD,
  PRIVATE_USER,
  startLoopbackInternet,
} from "../support/loopback-internet.ts";
import { freePort, loopbackIp } from "../support/ports.ts";
import { pullImage } from "../support/registry-pull.ts";
import { pushLayout } from "../support/skopeo.ts";
import { makeTempDir, type TempDir } from "../support/temp-dir.ts";
import { startWharf, type WharfProcess } from "../support/wharf-process.ts";

let net: LoopbackInternet;
let wharf: WharfProcess;
let tmp: TempDir;
const TTL_MS = 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pastTtl = () => sleep(TTL_MS + 300);

/** Upstream manifest requests since `since`, without the 401s of the token handshake. */
function manifestCalls(since: number, method: "GET" | "HEAD") {
  return net.hubProxy
    .requests(since)
    .filter((r) => r.method === method && r.path.includes("/manifests/") && r.status !== 401);
}

beforeAll(async () => {
  tmp = await makeTempDir("wharf-e2e-policy-");
  net = await startLoopbackInternet({ push: ["busybox", "multi"] });
  const ip = loopbackIp();
  wharf = await startWharf({
    config: {
      dataDir: join(tmp.path, "data"),
      listen: { http: `${ip}:5000` },
      upstreamCaFile: net.ca.caCert,
      upstreamDns: `127.0.0.1:${await freePort()}`,
      rateLimitReserve: 10,
      registries: {
        "docker.io": {
          upstream: net.hubProxy.url,
          tagTtl: `${TTL_MS}ms`,
          repositories: [{ match: "library/pinned*", tagTtl: "never" }],
        },
        // the same upstream with a TTL no loaded machine outruns: "within the TTL" holds for sure
        "ghcr.io": { upstream: net.hubProxy.url, tagTtl: "1h" },
      },
    },
  });
});

afterAll(async () => {
  await wharf?.stop();
  await net?.stop();
  await tmp?.remove();
});

const access = () => ({ certDir: net.ca.certDir, creds: `${PRIVATE_USER}:${PRIVATE_PASSWORD}` });

describe("counted pulls", () => {
  it("a warm pull of a tag past its TTL makes one manifest HEAD and no manifest GET", async () => {
    const first = await pullImage(wharf.httpUrl, "docker.io/library/busybox", "latest");
    expect(first.digest).toBe(readManifestDigests("busybox").manifest);
    await pastTtl();
    const since = net.hubProxy.mark();
    const again = await pullImage(wharf.httpUrl, "docker.io/library/busybox", "latest");
    expect(again.digest).toBe(first.digest);
    expect(manifestCalls(since, "HEAD").map((r) => r.path)).toEqual(["/v2/library/busybox/manifests/latest"]);
    expect(manifestCalls(since, "GET")).toEqual([]);
    expect(net.hubProxy.count((r) => r.path.includes("/blobs/"), since)).toBe(0);
  });

  it("within the TTL a pull makes no upstream request at all", async () => {
    await pullImage(wharf.httpUrl, "ghcr.io/library/busybox", "latest");
    const since = net.hubProxy.mark();
    for (let i = 0; i < 5; i++) await pullImage(wharf.httpUrl, "ghcr.io/library/busybox", "latest");
    expect(net.hubProxy.requests(since)).toEqual([]);
  });

  it("a changed tag makes exactly one manifest GET", async () => {
    await pullImage(wharf.httpUrl, "docker.io/library/moving", "1").catch(() => undefined);
    await pushLayout("busybox", `${new URL(net.hub.url).host}/library/moving:1`, access());
    const before = await pullImage(wharf.httpUrl, "docker.io/library/moving", "1");
    await pushLayout("multi", `${new URL(net.hub.url).host}/library/moving:1`, access());
    await pastTtl();
    const since = net.hubProxy.mark();
    const after = await pullImage(wharf.httpUrl, "docker.io/library/moving", "1");
    expect(after.digest).not.toBe(before.digest);
    expect(after.digest).toBe(readManifestDigests("multi").manifest);
    expect(manifestCalls(since, "HEAD")).toHaveLength(1);
    // The new index itself; its platform manifest is fetched by digest once more (new content).
    expect(
      manifestCalls(since, "GET").filter(
        (r) => r.path.endsWith("/manifests/1") || r.path.includes(after.digest),
      ),
    ).toHaveLength(1);
  });

  it("pinned tags (tagTtl: never) make none", async () => {
    await pushLayout("busybox", `${new URL(net.hub.url).host}/library/pinned:1`, access());
    await pullImage(wharf.httpUrl, "docker.io/library/pinned", "1");
    await pastTtl();
    const since = net.hubProxy.mark();
    await pullImage(wharf.httpUrl, "docker.io/library/pinned", "1");
    expect(net.hubProxy.requests(since)).toEqual([]);
  });

  it("serves the stale tag instead of spending a pull when Docker Hub's allowance is low", async () => {
    net.hubProxy.setRule("*", {
      kind: "headers",
      headers: { "ratelimit-limit": "100;w=21600", "ratelimit-remaining": "4;w=21600" },
    });
    await pastTtl();
    await pullImage(wharf.httpUrl, "docker.io/library/busybox", "latest"); // revalidates, learns remaining=4
    net.hubProxy.clear();
    await pastTtl();
    const since = net.hubProxy.mark();
    const r = await pullImage(wharf.httpUrl, "docker.io/library/busybox", "latest");
    expect(r.warning).toMatch(/allowance/);
    expect(net.hubProxy.requests(since)).toEqual([]);
    // A fresh allowance ends the reserve: revalidation resumes.
    net.hubProxy.setRule("*", { kind: "headers", headers: { "ratelimit-remaining": "90;w=21600" } });
    await pullImage(wharf.httpUrl, "docker.io/library/pinned", "1");
    const probe = await fetch(`${wharf.httpUrl}/v2/docker.io/library/multi/manifests/1`);
    expect(probe.status).toBe(200);
    net.hubProxy.clear();
  });
});

describe("serving through trouble", () => {
  it("429 with Retry-After: the cached tag is served stale and upstream is not hammered", async () => {
    await pullImage(wharf.httpUrl, "docker.io/library/multi", "1");
    net.hubProxy.setRule("*", {
      kind: "status",
      status: 429,
      headers: { "retry-after": "30" },
      body: '{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}',
    });
    await pastTtl();
    const since = net.hubProxy.mark();
    for (let i = 0; i < 10; i++) {
      const r = await pullImage(wharf.httpUrl, "docker.io/library/multi", "1");
      expect(r.warning).toMatch(/served from cache/);
    }
    expect(net.hubProxy.requests(since).length).toBeLessThanOrEqual(1);
    const started = Date.now();
    const uncached = await fetch(`${wharf.httpUrl}/v2/docker.io/library/never-pulled/manifests/1`);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(uncached.status).toBeGreaterThanOrEqual(500);
    expect(((await uncached.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe("UNAVAILABLE");
    expect(uncached.headers.get("retry-after")).toBeTruthy();
    net.hubProxy.clear();
  });

  it("upstream gone: cached tags and digests still pull, uncached fail fast with an OCI error", async () => {
    const multi = readManifestDigests("multi");
    await pullImage(wharf.httpUrl, "docker.io/library/multi", "1").catch(() => undefined);
    await net.hubProxy.stop();
    await pastTtl();
    const r = await pullImage(wharf.httpUrl, "docker.io/library/busybox", "latest");
    expect(r.digest).toBe(readManifestDigests("busybox").manifest);
    const byDigest = await fetch(`${wharf.httpUrl}/v2/docker.io/library/multi/manifests/${multi.manifest}`);
    expect(byDigest.status).toBe(200);
    for (let i = 0; i < 4; i++) await fetch(`${wharf.httpUrl}/v2/docker.io/library/other/manifests/${i}`);
    const started = Date.now();
    const res = await fetch(`${wharf.httpUrl}/v2/docker.io/library/other/manifests/x`);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(res.status).toBe(502);
    const body = (await res.json()) as { errors: { code: string; message: string }[] };
    expect(body.errors[0]?.code).toBe("UNAVAILABLE");
    expect(body.errors[0]?.message).toMatch(/unreachable|paused/);
  });
});
