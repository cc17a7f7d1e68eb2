// Issue 3, end to end: skopeo pulls through wharf's TLS gateway from real docker-registry
// upstreams (token auth like Docker Hub and ghcr.io), and the upstreams' own logs show what
// wharf asked for.
import { mkdir, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitForCount } from "../support/access-log.ts";
import { readBlob, readManifestDigests } from "../support/images.ts";
import {
  type LoopbackInternet,
  PRIVATE_PASSWORD,
  PRIVATE_USER,
  startLoopbackInternet,
} from "../support/loopback-internet.ts";
import { freePort, loopbackIp } from "../support/ports.ts";
import { copyToDir, inspectDigest, runSkopeo } from "../support/skopeo.ts";
import { makeTempDir, type TempDir } from "../support/temp-dir.ts";
import { fetchDigest, rawHttp, wharfCertDir } from "../support/wharf-client.ts";
import { startWharf, type WharfProcess } from "../support/wharf-process.ts";

let net: LoopbackInternet;
let wharf: WharfProcess;
let tmp: TempDir;
let wharfIp: string;
let certDir: string;
let access: { certDir: string; hosts: Record<string, string> };

beforeAll(async () => {
  tmp = await makeTempDir("wharf-e2e-pull-");
  net = await startLoopbackInternet();
  wharfIp = loopbackIp();
  wharf = await startWharf({
    config: {
      dataDir: join(tmp.path, "data"),
      logLevel: "debug",
      listen: { http: `${wharfIp}:5000`, https: `${wharfIp}:443`, dns: null, admin: null },
      upstreamCaFile: net.ca.caCert,
      upstreamDns: `127.0.0.1:${await freePort()}`,
      registries: {
        "docker.io": { upstream: net.hubProxy.url, aliases: ["registry-1.docker.io", "index.docker.io"] },
        "ghcr.io": { upstream: net.ghcr.url, auth: { username: PRIVATE_USER, passwordEnv: "GHCR_TOKEN" } },
        "registry.gitlab.com": { upstream: net.ghcr.url },
      },
    },
    env: { ...process.env, GHCR_TOKEN: PRIVATE_PASSWORD },
  });
  certDir = await wharfCertDir(join(tmp.path, "data"), join(tmp.path, "wharf-ca"));
  access = {
    certDir,
    hosts: { "registry-1.docker.io": wharfIp, "ghcr.io": wharfIp, "registry.gitlab.com": wharfIp },
  };
});

afterAll(async () => {
  await wharf?.stop();
  await net?.stop();
  await tmp?.remove();
});

describe("pull-through cache", () => {
  it("prefetch (cache.prefetch): small blobs with the manifest, large ones once a layer is asked for", async () => {
    const multi = readManifestDigests("multi");
    const [child, other] = multi.manifests;
    if (!child || !other) throw new Error("the multi image needs two platforms");
    const config = child.config as string;
    const isLarge = (i: number) => (child.layerSizes[i] as number) > 1024 * 1024;
    const large = child.layers.filter((_, i) => isLarge(i));
    const smallLayers = child.layers.filter((_, i) => !isLarge(i));
    if (large.length === 0 || smallLayers.length === 0) throw new Error("need layers above and below 1 MiB");
    const all = [config, ...child.layers];
    const otherOnly = [other.config as string, ...other.layers].filter((d) => !all.includes(d));
    const blobGets = (digests: string[], since: number) =>
      net.hubProxy.count((r) => r.method === "GET" && digests.some((d) => r.path.endsWith(d)), since);
    const settle = () => new Promise((r) => setTimeout(r, 500));
    const accept = { accept: `${child.mediaType}, ${multi.mediaType}` };
    // wharfs of their own: this file's main wharf has these blobs cached by other tests
    for (const prefetch of [4, 0]) {
      const w = await startWharf({
        config: {
          listen: { http: `${loopbackIp()}:5000` },
          upstreamCaFile: net.ca.caCert,
          upstreamDns: `127.0.0.1:${await freePort()}`,
          cache: { prefetch },
          registries: { "docker.io": { upstream: net.hubProxy.url } },
        },
      });
      const on = (n: number) => (prefetch > 0 ? n : 0);
      try {
        const since = net.hubProxy.mark();
        const base = `${w.httpUrl}/v2/docker.io/library/multi`;
        // what `skopeo inspect` does: index, platform manifest, config
        expect((await fetch(`${base}/manifests/1`, { headers: accept })).status).toBe(200);
        expect((await fetch(`${base}/manifests/${child.manifest}`, { headers: accept })).status).toBe(200);
        const small = [config, ...smallLayers];
        expect(await waitForCount(() => blobGets(small, since), on(small.length), 10_000)).toBe(
          on(small.length),
        );
        expect((await fetchDigest(`${base}/blobs/${config}`)).digest).toBe(config);
        await settle();
        expect(blobGets(large, since), `prefetch ${prefetch}: inspecting fetches no large layer`).toBe(0);
        // a pull asks for a layer: the large ones are fetched ahead of the client's requests
        expect((await fetchDigest(`${base}/blobs/${smallLayers[0]}`)).digest).toBe(smallLayers[0]);
        expect(await waitForCount(() => blobGets(large, since), on(large.length), 10_000)).toBe(
          on(large.length),
        );
        for (const d of child.layers) expect((await fetchDigest(`${base}/blobs/${d}`)).digest).toBe(d);
        await settle();
        expect(blobGets(all, since), `prefetch ${prefetch}: one upstream GET per blob`).toBe(all.length);
        // the index names platform manifests, not blobs: nothing only the other platform uses was fetched
        expect(blobGets(otherOnly, since)).toBe(0);
      } finally {
        await w.stop();
      }
    }
  });

  it("pulls through the TLS gateway with upstream digests; CDN redirects are followed without credentials", async () => {
    const bb = readManifestDigests("busybox");
    for (const d of [bb.config as string, ...bb.layers]) net.hubProxy.setRule(d, { kind: "redirect" });
    const out = join(tmp.path, "out");
    await mkdir(out, { recursive: true });
    await copyToDir("docker.io/library/busybox:latest", join(out, "bb"), access);
    expect(await inspectDigest("docker.io/library/busybox:latest", access)).toBe(bb.manifest);
    const cdn = net.hubProxy.cdn.requests.filter((r) => r.method === "GET");
    expect(cdn.map((r) => r.path.split("/").pop()).sort()).toEqual([bb.config, ...bb.layers].sort());
    expect(cdn.every((r) => !r.authorization && r.status === 200)).toBe(true);
    net.hubProxy.clear();

    const multi = readManifestDigests("multi");
    expect(await inspectDigest("docker.io/library/multi:1", access)).toBe(multi.manifest);
    await copyToDir("docker.io/library/multi:1", join(out, "multi"), { ...access, all: true });
    const files = await readdir(join(out, "multi"));
    for (const m of multi.manifests)
      expect(files.some((f) => m.layers.some((l) => f.includes(l.replace("sha256:", ""))))).toBe(true);
  });

  it("a second pull makes zero upstream blob and manifest requests", async () => {
    const since = net.hubProxy.mark();
    const out = join(tmp.path, "out2");
    await mkdir(out, { recursive: true });
    await copyToDir("docker.io/library/busybox:latest", join(out, "bb"), access);
    await copyToDir("registry-1.docker.io/library/multi:1", join(out, "multi"), { ...access, all: true });
    const seen = net.hubProxy
      .requests(since)
      .filter((r) => r.path.includes("/blobs/") || r.path.includes("/manifests/"));
    expect(seen).toEqual([]);
  });

  it("serve runs with a 1 MiB young generation and glibc's malloc tuned, re-executed in place (same PID)", async () => {
    // bin/wharf.mjs execve()s node with --max-semi-space-size=1 (bench/results.md, figure 5)
    const cmdline = (await readFile(`/proc/${wharf.pid}/cmdline`, "utf8")).split("\0");
    expect(cmdline).toContain("--max-semi-space-size=1");
    expect(cmdline.some((a) => a.endsWith("bin/wharf.mjs"))).toBe(true);
    // and with GLIBC_TUNABLES (figures 5, 4c, 7b); glibc cuts the original string at each ':' as it parses
    const environ = (await readFile(`/proc/${wharf.pid}/environ`, "utf8")).split("\0");
    expect(environ.some((e) => e.startsWith("GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072"))).toBe(true);
  });

  it("20 concurrent pulls of an uncached 100 MiB layer cause one upstream GET; clients that leave break nobody", async () => {
    const big = readManifestDigests("big");
    const layer = big.layers[big.layerSizes.indexOf(Math.max(...big.layerSizes))] as string;
    expect(Math.max(...big.layerSizes)).toBeGreaterThan(100 * 1024 * 1024 * 0.99);
    const since = net.hubProxy.mark();
    const url = `${wharf.httpUrl}/v2/docker.io/library/big/blobs/${layer}`;
    const leaving = Array.from({ length: 4 }, async () => {
      const ac = new AbortController();
      const res = await fetch(url, { signal: ac.signal });
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      await reader.read();
      ac.abort();
      await reader.read().catch(() => {});
    });
    const staying = Array.from({ length: 16 }, () => fetchDigest(url));
    await Promise.all(leaving);
    const results = await Promise.all(staying);
    for (const r of results) expect(r).toMatchObject({ status: 200, digest: layer });
    // 401s are the token handshake, not fetches.
    expect(
      net.hubProxy.count(
        (r) => r.method === "GET" && r.path.endsWith(`/blobs/${layer}`) && r.status !== 401,
        since,
      ),
    ).toBe(1);
  });

  it("never caches a corrupted or truncated upstream blob; the next pull succeeds", async () => {
    const big = readManifestDigests("big");
    const small = big.layers[big.layerSizes.indexOf(Math.min(...big.layerSizes))] as string;
    const config = big.config as string;
    for (const [digest, kind] of [
      [small, "corrupt"],
      [config, "truncate"],
    ] as const) {
      const since = net.hubProxy.mark();
      net.hubProxy.setRule(digest, { kind, times: 1 });
      const url = `${wharf.httpUrl}/v2/docker.io/library/big/blobs/${digest}`;
      const bad = await fetchDigest(url).catch((e: Error) => e);
      expect(bad instanceof Error || bad.digest !== digest).toBe(true);
      if (!(bad instanceof Error)) expect(bad.digest).not.toBe(digest);
      const good = await fetchDigest(url);
      expect(good).toMatchObject({ status: 200, digest });
      expect(
        net.hubProxy.count(
          (r) => r.method === "GET" && r.path.endsWith(`/blobs/${digest}`) && r.status !== 401,
          since,
        ),
      ).toBe(2);
    }
    await copyToDir("docker.io/library/big:latest", join(tmp.path, "out-big"), access);
  });

  it("a private repository works only where credentials are configured", async () => {
    const bb = readManifestDigests("busybox");
    expect(await inspectDigest("ghcr.io/private/app:1", access)).toBe(bb.manifest);
    expect(await inspectDigest("registry.gitlab.com/acme/public:1", access)).toBe(bb.manifest);
    const denied = await runSkopeo(
      ["inspect", "--raw", "--cert-dir", certDir, "docker://registry.gitlab.com/private/app:1"],
      { hosts: access.hosts, allowFailure: true },
    );
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toMatch(/unauthorized|denied/i);
    expect(wharf.logs().stdout).not.toContain(PRIVATE_PASSWORD);
    // Request log lines carry what the upstream answered.
    expect(wharf.logs().stdout).toMatch(/"registry":"registry.gitlab.com".*"upstreamStatus":401/);
    expect(wharf.logs().stdout).toMatch(/"outcome":"miss".*"upstreamStatus":200/);
  });
});

describe("OCI API details", () => {
  const api = (path: string, init?: RequestInit) => fetch(`${wharf.httpUrl}/v2/${path}`, init);

  it("answers /v2/, HEAD and GET with the right headers, and honours Accept", async () => {
    const base = await api("");
    expect(base.status).toBe(200);
    expect(base.headers.get("docker-distribution-api-version")).toBe("registry/2.0");
    expect(await base.json()).toEqual({});
    const multi = readManifestDigests("multi");
    const head = await api("docker.io/library/multi/manifests/1", { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("docker-content-digest")).toBe(multi.manifest);
    expect(head.headers.get("content-type")).toBe("application/vnd.oci.image.index.v1+json");
    expect(Number(head.headers.get("content-length"))).toBe(multi.size);
    const dockerOnly = await api("docker.io/library/multi/manifests/1", {
      headers: { accept: "application/vnd.docker.distribution.manifest.v2+json" },
    });
    expect(dockerOnly.status).toBe(404);
    expect(((await dockerOnly.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe(
      "MANIFEST_UNKNOWN",
    );
    const byDigest = await api(`docker.io/library/multi/manifests/${multi.manifest}`);
    expect(byDigest.headers.get("docker-content-digest")).toBe(multi.manifest);
    const tags = await api("docker.io/library/busybox/tags/list");
    expect(((await tags.json()) as { tags: string[] }).tags).toContain("latest");
  });

  it("serves a single Range with 206", async () => {
    const bb = readManifestDigests("busybox");
    const layer = bb.layers[0] as string;
    const res = await api(`docker.io/library/busybox/blobs/${layer}`, { headers: { range: "bytes=10-109" } });
    expect(res.status).toBe(206);
    expect(res.headers.get("content-range")).toBe(`bytes 10-109/${bb.layerSizes[0]}`);
    expect(Buffer.from(await res.arrayBuffer()).equals(readBlob(layer).subarray(10, 110))).toBe(true);
    const bad = await api(`docker.io/library/busybox/blobs/${layer}`, {
      headers: { range: "bytes=999999999-" },
    });
    expect(bad.status).toBe(416);
  });

  it("refuses pushes and hostile input with 4xx, touching nothing on disk", async () => {
    const blobsDir = join(tmp.path, "data", "blobs");
    const before = JSON.stringify(await readdir(blobsDir, { recursive: true }));
    expect((await api("library/x/manifests/1", { method: "PUT", body: "{}" })).status).toBe(405);
    expect((await api("library/x/blobs/uploads/", { method: "POST" })).status).toBe(405);
    const port = Number(new URL(wharf.httpUrl).port);
    const host = new URL(wharf.httpUrl).hostname;
    for (const path of [
      "/v2/../../etc/passwd",
      "/v2/library/%2e%2e/%2e%2e/manifests/latest",
      "/v2/library/..%2f..%2fetc/blobs/sha256:abc",
      "/v2/library/busybox/blobs/sha256:zz",
      `/v2/library/busybox/blobs/md5:${"a".repeat(32)}`,
      `/v2/library/busybox/blobs/sha256:${"a".repeat(64)}/../../x`,
      "/v2/library/busybox/manifests/..",
    ]) {
      const r = await rawHttp(host, port, `GET ${path} HTTP/1.1\r\nHost: wharf`);
      expect(r.status, path).toBeGreaterThanOrEqual(400);
      expect(r.status, path).toBeLessThan(500);
    }
    const huge = await rawHttp(
      host,
      port,
      `GET /v2/ HTTP/1.1\r\nHost: wharf\r\nX-Big: ${"a".repeat(64 * 1024)}`,
    );
    expect(huge.status).toBe(431);
    expect(JSON.stringify(await readdir(blobsDir, { recursive: true }))).toBe(before);
  });
});
