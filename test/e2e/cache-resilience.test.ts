// Issue 7: bounded disk without broken images, crash safety, one process per dataDir, and the
// maintenance CLI, against real registries and a real wharf process killed with SIGKILL.
import { createHash } from "node:crypto";
import { readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readManifestDigests } from "../support/images.ts";
import { type LoopbackInternet, startLoopbackInternet } from "../support/loopback-internet.ts";
import { freePort, loopbackIp } from "../support/ports.ts";
import { pushRandomImages } from "../support/random-images.ts";
import { pullImage } from "../support/registry-pull.ts";
import { makeTempDir, type TempDir } from "../support/temp-dir.ts";
import { fetchDigest } from "../support/wharf-client.ts";
import { runWharfCli, startWharf, type WharfProcess } from "../support/wharf-process.ts";

const IMAGES = 6;
const MIB = 8;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let net: LoopbackInternet;
let tmp: TempDir;

beforeAll(async () => {
  tmp = await makeTempDir("wharf-e2e-resilience-");
  net = await startLoopbackInternet({ push: ["busybox", "big"] });
  await pushRandomImages(net, {
    layout: join(tmp.path, "random"),
    count: IMAGES,
    mib: MIB,
    reference: (i) => `library/r${i}:1`,
  });
}, 180_000);

afterAll(async () => {
  await net?.stop();
  await tmp?.remove();
});

async function wharfOn(dataDir: string, extra: Record<string, unknown> = {}): Promise<WharfProcess> {
  return startWharf({
    config: {
      dataDir,
      listen: { http: `${loopbackIp()}:5000` },
      upstreamCaFile: net.ca.caCert,
      upstreamDns: `127.0.0.1:${await freePort()}`,
      registries: { "docker.io": { upstream: net.hubProxy.url } },
      ...extra,
    },
  });
}

async function blobFiles(dataDir: string): Promise<{ digest: string; path: string; size: number }[]> {
  const root = join(dataDir, "blobs", "sha256");
  const out: { digest: string; path: string; size: number }[] = [];
  for (const prefix of await readdir(root).catch(() => [] as string[])) {
    for (const hex of await readdir(join(root, prefix))) {
      const path = join(root, prefix, hex);
      out.push({ digest: `sha256:${hex}`, path, size: (await stat(path)).size });
    }
  }
  return out;
}

const blobGets = (since: number) =>
  net.hubProxy
    .requests(since)
    .filter((r) => r.method === "GET" && r.path.includes("/blobs/") && r.status !== 401);

function wharfCli(args: string[], configFile: string) {
  return runWharfCli(undefined, args, { configFile });
}

describe("bounded disk", () => {
  it("stays under cache.maxSize, keeps recently used images, re-pulls evicted ones, never fails a pull", async () => {
    const dataDir = join(tmp.path, "evict");
    const wharf = await wharfOn(dataDir, {
      cache: { maxSize: "20MiB", minFree: "1MiB", evictInterval: "1s" },
    });
    try {
      for (let i = 0; i < IMAGES; i++) {
        await pullImage(wharf.httpUrl, `docker.io/library/r${i}`, "1");
        await sleep(300);
      }
      await sleep(1500);
      const total = (await blobFiles(dataDir)).reduce((n, b) => n + b.size, 0);
      expect(total).toBeLessThanOrEqual(20 * 1024 * 1024);
      expect(total).toBeGreaterThan(MIB * 1024 * 1024);
      let since = net.hubProxy.mark();
      await pullImage(wharf.httpUrl, `docker.io/library/r${IMAGES - 1}`, "1");
      expect(blobGets(since)).toEqual([]);
      since = net.hubProxy.mark();
      await pullImage(wharf.httpUrl, "docker.io/library/r0", "1");
      expect(blobGets(since).length).toBeGreaterThan(0);
      const rounds = await Promise.allSettled(
        Array.from({ length: 2 * IMAGES }, (_, i) =>
          pullImage(wharf.httpUrl, `docker.io/library/r${i % IMAGES}`, "1"),
        ),
      );
      expect(rounds.filter((r) => r.status === "rejected")).toEqual([]);
      await sleep(2500);
      const after = (await blobFiles(dataDir)).reduce((n, b) => n + b.size, 0);
      expect(after).toBeLessThanOrEqual(20 * 1024 * 1024);
      for (const b of await blobFiles(dataDir)) {
        expect(
          `sha256:${createHash("sha256")
            .update(await readFile(b.path))
            .digest("hex")}`,
        ).toBe(b.digest);
      }
    } finally {
      await wharf.stop();
    }
  });
});

describe("crash safety", () => {
  it("SIGKILL at random points of a big pull never leaves a corrupt entry; a fresh pull then succeeds", async () => {
    const big = readManifestDigests("big");
    const layer = big.layers[big.layerSizes.indexOf(Math.max(...big.layerSizes))] as string;
    const dataDir = join(tmp.path, "crash");
    for (const delay of [40, 150, 400, 900]) {
      const wharf = await wharfOn(dataDir);
      const pulls = [
        fetchDigest(`${wharf.httpUrl}/v2/docker.io/library/big/blobs/${layer}`).catch((e: Error) => e),
        pullImage(wharf.httpUrl, "docker.io/library/busybox", "latest").catch((e: Error) => e),
      ];
      await sleep(delay);
      wharf.kill("SIGKILL");
      await wharf.exited;
      await Promise.all(pulls);
      await wharf.stop();
      for (const b of await blobFiles(dataDir)) {
        expect(
          `sha256:${createHash("sha256")
            .update(await readFile(b.path))
            .digest("hex")}`,
          `after kill at ${delay} ms`,
        ).toBe(b.digest);
      }
    }
    const wharf = await wharfOn(dataDir);
    try {
      expect(await readdir(join(dataDir, "tmp"))).toEqual([]);
      const r = await pullImage(wharf.httpUrl, "docker.io/library/big", "latest");
      expect(r.digest).toBe(big.manifest);
      expect(await fetchDigest(`${wharf.httpUrl}/v2/docker.io/library/big/blobs/${layer}`)).toMatchObject({
        status: 200,
        digest: layer,
      });
    } finally {
      await wharf.stop();
    }
  });

  it("refuses a second wharf on the same dataDir, and rebuilds lost metadata from the blob files", async () => {
    const dataDir = join(tmp.path, "lock");
    const first = await wharfOn(dataDir);
    try {
      await pullImage(first.httpUrl, "docker.io/library/busybox", "latest");
      const second = await wharfOn(dataDir).then(
        (w) => w,
        (e: Error) => e,
      );
      expect(second).toBeInstanceOf(Error);
      expect(String(second)).toMatch(/another wharf is running on/);
    } finally {
      await first.stop();
    }
    for (const f of await readdir(dataDir)) if (f.startsWith("metadata.sqlite")) await rm(join(dataDir, f));
    const again = await wharfOn(dataDir);
    try {
      const since = net.hubProxy.mark();
      const bb = readManifestDigests("busybox");
      for (const d of [bb.config as string, ...bb.layers]) {
        expect(await fetchDigest(`${again.httpUrl}/v2/docker.io/library/busybox/blobs/${d}`)).toMatchObject({
          status: 200,
          digest: d,
        });
      }
      expect(blobGets(since)).toEqual([]);
      expect(again.logs().stdout).toMatch(/metadata rebuilt from blob files/);
    } finally {
      await again.stop();
    }
  });
});

describe("wharf cache CLI", () => {
  it("lists, verifies (quarantining a corrupted blob), collects garbage and removes entries", async () => {
    const dataDir = join(tmp.path, "cli");
    const wharf = await wharfOn(dataDir);
    const configFile = join(tmp.path, "cli.yml");
    await writeFile(
      configFile,
      `dataDir: ${dataDir}\nregistries:\n  docker.io:\n    upstream: ${net.hubProxy.url}\n`,
    );
    try {
      await pullImage(wharf.httpUrl, "docker.io/library/busybox", "latest");
      const ls = await wharfCli(["cache", "ls", "docker.io", "--json"], configFile);
      expect(ls.code).toBe(0);
      expect(
        (JSON.parse(ls.stdout) as { repository: string; tag: string }[]).map(
          (t) => `${t.repository}:${t.tag}`,
        ),
      ).toContain("library/busybox:latest");
      const ok = await wharfCli(["cache", "verify"], configFile);
      expect(ok.code).toBe(0);
      expect(ok.stdout).toMatch(/0 quarantined/);
      const [victim] = await blobFiles(dataDir);
      const bytes = await readFile((victim as { path: string }).path);
      bytes[0] = (bytes[0] as number) ^ 0xff;
      await writeFile((victim as { path: string }).path, bytes);
      const bad = await wharfCli(["cache", "verify"], configFile);
      expect(bad.code).toBe(1);
      expect(bad.stdout).toContain(`quarantined ${victim?.digest}`);
      expect(await readdir(join(dataDir, "quarantine"))).toHaveLength(1);
      // The quarantined blob is fetched again on the next pull.
      expect((await pullImage(wharf.httpUrl, "docker.io/library/busybox", "latest")).digest).toBe(
        readManifestDigests("busybox").manifest,
      );
      const gc = await wharfCli(["cache", "gc", "--dry-run"], configFile);
      expect(gc.code).toBe(0);
      expect(gc.stdout).toMatch(/^gc \(would\)/);
      const rmTag = await wharfCli(["cache", "rm", "docker.io/library/busybox:latest"], configFile);
      expect(rmTag.code).toBe(0);
      const missing = await wharfCli(["cache", "rm", "docker.io/library/nope:1"], configFile);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/not in the cache/);
    } finally {
      await wharf.stop();
    }
  });
});
