// Issue 13, failure 1: a full disk must not kill wharf. dataDir lives on a small tmpfs that the
// test fills to the last byte; a real wharf process, the loopback docker-registry as upstream and
// curl as the client. Hits keep being served, fills get 503 (Retry-After) with nothing recorded,
// the evictor runs on without crashing, /readyz says why, a restart on the full disk comes up
// and serves hits, and once space is freed fills work again. DNS (dns.failOpen) forwards the
// intercepted names to the upstream resolver (a local dnsmasq) while the disk is full, and answers
// them itself again once there is room.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Dnsmasq, digAt, startDnsmasq } from "../support/dns-testbed.ts";
import { readManifestDigests } from "../support/images.ts";
import { type LoopbackInternet, startLoopbackInternet } from "../support/loopback-internet.ts";
import { freePort, loopbackIp } from "../support/ports.ts";
import { runCommand } from "../support/run-command.ts";
import { makeTempDir, type TempDir } from "../support/temp-dir.ts";
import { startWharf, type WharfProcess } from "../support/wharf-process.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let net: LoopbackInternet;
/** The upstream resolver: knows docker.io under an address that is not wharf's. */
let resolver: Dnsmasq;
const UPSTREAM_ANSWER = "10.9.8.7";
let wharfIp: string;
let dnsPort: number;
let tmp: TempDir;
let mnt: string;
let mounted = false;
const running: WharfProcess[] = [];

beforeAll(async () => {
  tmp = await makeTempDir("wharf-e2e-full-disk-");
  mnt = join(tmp.path, "mnt");
  await mkdir(mnt);
  await runCommand(["mount", "-t", "tmpfs", "-o", "size=48m,mode=0755", "tmpfs", mnt]);
  mounted = true;
  net = await startLoopbackInternet({ push: ["busybox", "big"] });
  resolver = await startDnsmasq([`--address=/docker.io/${UPSTREAM_ANSWER}`]);
  wharfIp = loopbackIp();
  dnsPort = await freePort();
}, 180_000);

afterAll(async () => {
  for (const w of running) await w.stop().catch(() => {});
  if (mounted) await runCommand(["umount", "-l", mnt], { allowFailure: true });
  await net?.stop();
  await resolver?.stop();
  await tmp?.remove();
});

async function wharfOn(dataDir: string, admin: string): Promise<WharfProcess> {
  const w = await startWharf({
    config: {
      dataDir,
      listen: { http: `${wharfIp}:5000`, admin, dns: `${wharfIp}:${dnsPort}` },
      upstreamCaFile: net.ca.caCert,
      upstreamDns: `127.0.0.1:${resolver.port}`,
      dns: { answer: [wharfIp], failOpen: true },
      registries: { "docker.io": { upstream: net.hubProxy.url } },
      cache: { minFree: "8MiB", evictInterval: "1s", scrubInterval: null },
      logLevel: "info",
    },
  });
  running.push(w);
  return w;
}

interface CurlResult {
  /** curl's exit code: 0 only for a complete transfer. */
  exit: number | null;
  status: number;
  headers: string;
  body: Buffer;
}

async function curl(url: string, accept?: string): Promise<CurlResult> {
  const out = join(tmp.path, `body-${Math.random().toString(36).slice(2)}`);
  const hdr = `${out}.headers`;
  const r = await runCommand(
    [
      "curl",
      "-sS",
      "--noproxy",
      "*",
      "-o",
      out,
      "-D",
      hdr,
      "-w",
      "%{http_code}",
      ...(accept ? ["-H", `Accept: ${accept}`] : []),
      url,
    ],
    { allowFailure: true, timeoutMs: 30_000 },
  );
  const body = await readFile(out).catch(() => Buffer.alloc(0));
  const headers = await readFile(hdr, "utf8").catch(() => "");
  await rm(out, { force: true });
  await rm(hdr, { force: true });
  return { exit: r.code, status: Number(r.stdout.trim()), headers, body };
}

/** The A records wharf's DNS gives for docker.io. */
async function resolveHub(): Promise<string[]> {
  const r = await digAt(wharfIp, dnsPort, "docker.io", "A");
  expect(r.status, r.output).toBe("NOERROR");
  return r.answers.filter((a) => a.type === "A").map((a) => a.data);
}

const sha256 = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
const MANIFEST_ACCEPT =
  "application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json";

async function fillDisk(check = true): Promise<void> {
  // dd stops at ENOSPC: the file system then has no free block at all
  await runCommand(["dd", "if=/dev/zero", `of=${join(mnt, "filler")}`, "bs=1M"], { allowFailure: true });
  if (!check) return; // a fill failing meanwhile frees its temporary file again
  const df = await runCommand(["df", "-B1", "--output=avail", mnt]);
  expect(Number(df.stdout.trim().split("\n")[1])).toBe(0);
}

async function readyz(
  admin: string,
): Promise<{ status: number; body: { checks: { name: string; detail?: string }[] } }> {
  const res = await fetch(`http://${admin}/readyz`);
  return { status: res.status, body: (await res.json()) as { checks: { name: string; detail?: string }[] } };
}

describe("full disk", () => {
  it("serves hits, refuses fills with 503, survives eviction, restarts read-only and recovers", async () => {
    const dataDir = join(mnt, "data");
    const admin = `${loopbackIp()}:${await freePort()}`;
    const bb = readManifestDigests("busybox");
    const big = readManifestDigests("big");
    const layer = bb.layers[0] as string;
    // the small layer of "big" (194 bytes); its 100 MB one never fits the 48 MiB file system
    const bigLayer = big.layers[1] as string;
    const hugeLayer = big.layers[0] as string;
    let w = await wharfOn(dataDir, admin);
    const blobUrl = (wh: WharfProcess, repo: string, d: string) => `${wh.httpUrl}/v2/${repo}/blobs/${d}`;
    const tagUrl = (wh: WharfProcess) => `${wh.httpUrl}/v2/library/busybox/manifests/latest`;

    // cache busybox: its manifest (by tag) and its layer
    expect((await curl(tagUrl(w), MANIFEST_ACCEPT)).status).toBe(200);
    const first = await curl(blobUrl(w, "library/busybox", layer));
    expect(first.status).toBe(200);
    expect(sha256(first.body)).toBe(layer);

    await fillDisk();

    // hits: served; the access-time and repository notes that cannot be written are skipped (a
    // blob is served only under a repository whose manifest names it: linked blobs, issue 16)
    for (const repo of ["library/busybox"]) {
      const hit = await curl(blobUrl(w, repo, layer));
      expect(hit.status, w.logs().stdout.slice(-2000)).toBe(200);
      expect(hit.exit).toBe(0);
      expect(sha256(hit.body)).toBe(layer);
    }
    expect((await curl(tagUrl(w), MANIFEST_ACCEPT)).status).toBe(200);

    // readiness says what is wrong (the probe runs every 5 s)
    const notReady = Date.now() + 10_000;
    while ((await readyz(admin)).status === 200 && Date.now() < notReady) await sleep(250);
    const ready = await readyz(admin);
    expect(ready.status).toBe(503);
    expect(ready.body.checks.find((c) => c.name === "store")?.detail).toMatch(/disk full/);

    // dns.failOpen: builders are sent to the registry itself, through the upstream resolver
    const asked = (await resolver.queriedNames()).length;
    expect(await resolveHub()).toEqual([UPSTREAM_ANSWER]);
    expect((await resolver.queriedNames()).slice(asked)).toContain("docker.io");

    // a fill: 503 UNAVAILABLE with Retry-After, upstream not even asked, nothing recorded
    const since = Date.now();
    const miss = await curl(blobUrl(w, "library/big", bigLayer));
    expect(miss.status).toBe(503);
    expect(miss.headers.toLowerCase()).toContain("retry-after:");
    expect(JSON.parse(miss.body.toString()).errors[0].code).toBe("UNAVAILABLE");
    expect(net.hubProxy.requests(since).filter((r) => r.path.includes(bigLayer))).toHaveLength(0);
    expect(existsSync(join(dataDir, "blobs", "sha256", bigLayer.slice(7, 9), bigLayer.slice(7)))).toBe(false);
    expect((await readdir(join(dataDir, "tmp"))).filter((f) => f.endsWith(".partial"))).toEqual([]);

    // several evictor passes (every second) on the full disk: the process lives, the cache stays
    await sleep(4_000);
    const alive = await Promise.race([w.exited.then(() => false), sleep(10).then(() => true)]);
    expect(alive, w.logs().stderr.slice(-2000)).toBe(true);
    expect((await curl(blobUrl(w, "library/busybox", layer))).status).toBe(200);

    expect((await readyz(admin)).status).toBe(503);

    // a restart on the still-full disk comes up and serves hits (the database kept its journal)
    expect((await w.stop()).code).toBe(0);
    running.pop();
    w = await wharfOn(dataDir, admin);
    expect((await curl(blobUrl(w, "library/busybox", layer))).status).toBe(200);
    expect((await curl(tagUrl(w), MANIFEST_ACCEPT)).status).toBe(200);
    expect((await w.stop()).code).toBe(0);
    running.pop();

    // a database closed cleanly (no journal left) cannot even be opened for writing on a full
    // disk: wharf starts read-only on an in-memory copy and serves hits, tags included
    await rm(join(mnt, "filler"));
    w = await wharfOn(dataDir, admin);
    expect((await w.stop()).code).toBe(0);
    running.pop();
    await fillDisk();
    w = await wharfOn(dataDir, admin);
    const again = await curl(blobUrl(w, "library/busybox", layer));
    expect(again.status, w.logs().stdout.slice(-2000)).toBe(200);
    expect(sha256(again.body)).toBe(layer);
    const tag = await curl(tagUrl(w), MANIFEST_ACCEPT);
    expect(tag.status).toBe(200);
    expect(sha256(tag.body)).toBe(bb.manifest);
    expect((await curl(blobUrl(w, "library/big", bigLayer))).status).toBe(503);
    expect(w.logs().stdout).toMatch(/in-memory copy/);
    expect((await readyz(admin)).status).toBe(503);

    // space freed: wharf notices by itself and fills again
    await rm(join(mnt, "filler"));
    const deadline = Date.now() + 15_000;
    while ((await readyz(admin)).status !== 200 && Date.now() < deadline) await sleep(250);
    expect((await readyz(admin)).status).toBe(200);
    const askedBefore = (await resolver.queriedNames()).length;
    expect(await resolveHub()).toEqual([wharfIp]);
    expect((await resolver.queriedNames()).slice(askedBefore)).not.toContain("docker.io");
    const filled = await curl(blobUrl(w, "library/big", bigLayer));
    expect(filled.status).toBe(200);
    expect(filled.exit).toBe(0);
    expect(sha256(filled.body)).toBe(bigLayer);
    // a declared length that would not leave cache.minFree: refused before a byte is sent
    const huge = await curl(blobUrl(w, "library/big", hugeLayer));
    expect(huge.status).toBe(503);
    expect(JSON.parse(huge.body.toString()).errors[0].message).toMatch(/no room/);
    expect(w.logs().stdout).toMatch(/metadata database written back/);

    // room for the 100 MB layer, but the disk fills while it streams: the client's transfer is
    // cut off (never a completed 200 with short bytes), nothing is recorded, wharf lives on
    await runCommand(["mount", "-o", "remount,size=160m", mnt]);
    const tmpDir = join(dataDir, "tmp");
    const streaming = curl(blobUrl(w, "library/big", hugeLayer));
    // the fill has passed its room check once bytes reach its temporary file
    const writing = async () => {
      for (const f of await readdir(tmpDir))
        if (f.endsWith(".partial") && (await stat(join(tmpDir, f)).catch(() => undefined))?.size) return true;
      return false;
    };
    const seen = Date.now() + 10_000;
    while (!(await writing()) && Date.now() < seen) await sleep(2);
    await fillDisk(false);
    const cut = await streaming;
    expect(cut.exit === 0 && cut.status === 200).toBe(false);
    if (cut.status === 200) expect(cut.body.length).toBeLessThan(big.layerSizes[0] as number);
    expect(existsSync(join(dataDir, "blobs", "sha256", hugeLayer.slice(7, 9), hugeLayer.slice(7)))).toBe(
      false,
    );
    expect((await readdir(tmpDir)).filter((f) => f.endsWith(".partial"))).toEqual([]);
    expect((await curl(blobUrl(w, "library/busybox", layer))).status).toBe(200);
    expect(w.logs().stdout).toMatch(/cache write failed: ENOSPC/);
  }, 120_000);
});
