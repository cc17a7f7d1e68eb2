// workers: 2 end to end (docs/workers.md): real wharf processes (a primary and two workers)
// against docker-registry behind the counting tamper proxy. Concurrent clients of one uncached
// layer, reaching both workers, cost one upstream GET; a rolling restart (SIGHUP) under load
// drops no request; a worker killed mid-fill leaves no corrupt entry and another one completes
// the fill; the admin endpoint's /metrics sums what the workers served.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { H2Client } from "../support/h2-client.ts";
import { readManifestDigests } from "../support/images.ts";
import {
  HUB,
  hubGatewayConfig,
  type LoopbackInternet,
  startLoopbackInternet,
} from "../support/loopback-internet.ts";
import { freePort, loopbackIp } from "../support/ports.ts";
import { makeTempDir, type TempDir } from "../support/temp-dir.ts";
import { fetchDigest } from "../support/wharf-client.ts";
import { startWharf, type WharfProcess } from "../support/wharf-process.ts";

let net: LoopbackInternet;
let tmp: TempDir;

beforeAll(async () => {
  tmp = await makeTempDir("wharf-e2e-workers-");
  net = await startLoopbackInternet({ push: ["big"] });
}, 120_000);

afterAll(async () => {
  await net?.stop();
  await tmp?.remove();
});

interface RequestLine {
  msg: string;
  pid: number;
  worker?: number;
  reference?: string;
  status: number;
  outcome: string;
}

function requestLines(w: WharfProcess): RequestLine[] {
  return w
    .logs()
    .stdout.split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as RequestLine)
    .filter((l) => l.msg === "request");
}

async function startWorkers(name: string, extra: Record<string, unknown> = {}) {
  const ip = loopbackIp();
  const admin = `${ip}:${await freePort()}`;
  const config = await hubGatewayConfig(net, {
    ip,
    dataDir: join(tmp.path, name),
    config: { workers: 2, listen: { http: `${ip}:5000`, https: `${ip}:443`, dns: null, admin }, ...extra },
  });
  const wharf = await startWharf({ config });
  // the first worker answering is what startWharf waits for; the primary says when all listen
  const deadline = Date.now() + 30_000;
  while (!wharf.logs().stdout.includes('"workers serving"') && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 100));
  return { wharf, ip, adminUrl: `http://${admin}` };
}

function layerOf(): { layer: string; size: number } {
  const big = readManifestDigests("big");
  const size = Math.max(...big.layerSizes);
  return { layer: big.layers[big.layerSizes.indexOf(size)] as string, size };
}

const upstreamGets = (layer: string, since: number) =>
  net.hubProxy.count(
    (r) => r.method === "GET" && r.path.endsWith(`/blobs/${layer}`) && r.status !== 401,
    since,
  );

/** GETs with a connection each (no keep-alive reuse), so the cluster spreads them over the workers. */
function fetchFresh(url: string) {
  return fetchDigest(url, { headers: { connection: "close" } });
}

describe("workers: 2", () => {
  it("24 concurrent clients of one uncached layer, on both workers: one upstream GET, every digest right", async () => {
    const { wharf, adminUrl } = await startWorkers("coalesce");
    try {
      const { layer, size } = layerOf();
      const since = net.hubProxy.mark();
      const url = `${wharf.httpUrl}/v2/docker.io/library/big/blobs/${layer}`;
      const results = await Promise.all(Array.from({ length: 24 }, () => fetchFresh(url)));
      for (const r of results) expect(r).toMatchObject({ status: 200, digest: layer, bytes: size });
      expect(upstreamGets(layer, since)).toBe(1);
      // a request line leaves in its worker's next log write, which may come after the client is done
      const lines = await vi.waitFor(
        () => {
          const found = requestLines(wharf).filter((l) => l.reference === layer);
          expect(found).toHaveLength(24);
          return found;
        },
        { timeout: 5000, interval: 100 },
      );
      const workers = new Set(lines.map((l) => l.pid));
      expect(workers.size).toBe(2);
      // /metrics in the primary counts the requests of both workers
      await new Promise((r) => setTimeout(r, 600));
      const metrics = await (await fetch(`${adminUrl}/metrics`)).text();
      const served = [...metrics.matchAll(/^wharf_requests_total\{[^}]*kind="blob"[^}]*\} (\d+)/gm)].reduce(
        (a, m) => a + Number(m[1]),
        0,
      );
      expect(served).toBe(24);
      const perWorker = [...metrics.matchAll(/^wharf_worker_requests_total\{worker="(\d)"\} (\d+)/gm)];
      expect(perWorker).toHaveLength(2);
      for (const m of perWorker) expect(Number(m[2])).toBeGreaterThan(0);
      // the status page's figures per worker
      const status = (await (await fetch(`${adminUrl}/api/status`)).json()) as {
        workers: { pid: number; requests: number; up: boolean }[];
      };
      expect(status.workers.map((w) => w.pid).sort()).toEqual([...workers].sort());
      for (const w of status.workers) expect(w).toMatchObject({ up: true, requests: expect.any(Number) });
    } finally {
      await wharf.stop();
    }
  }, 120_000);

  it("SIGHUP replaces both workers one by one under continuous HTTP/1.1 and HTTP/2 load; no request fails", async () => {
    const { wharf, ip } = await startWorkers("rolling");
    // HTTP/2 through the TLS gateway, under Docker Hub's name: a GOAWAY tells the client which
    // streams were processed (RFC 9113 section 6.8), so none of its requests may fail
    const ca = await readFile(join(String(wharf.config.dataDir), "ca.crt"));
    const h2 = Array.from({ length: 4 }, () => new H2Client({ ip, servername: HUB, ca }));
    try {
      const big = readManifestDigests("big");
      const blob = `${wharf.httpUrl}/v2/docker.io/library/big/blobs/${big.config}`;
      const manifest = `${wharf.httpUrl}/v2/docker.io/library/big/manifests/latest`;
      const accept = { accept: "application/vnd.oci.image.manifest.v1+json" };
      expect((await fetchDigest(blob)).digest).toBe(big.config);
      expect((await fetchDigest(manifest, { headers: accept })).status).toBe(200);
      const pidsBefore = new Set(requestLines(wharf).map((l) => l.pid));
      let running = true;
      const failures: string[] = [];
      let done = 0;
      let resent = 0;
      // 8 HTTP/1.1 clients on keep-alive connections, as registry clients pull, and 4 HTTP/2 ones
      const client = async (i: number) => {
        while (running) {
          const get = () =>
            i >= 8
              ? (h2[i - 8] as H2Client)
                  .get("/v2/library/big/manifests/latest", accept)
                  .then((r) => ({ ...r, digest: "" }))
              : i % 2
                ? fetchDigest(blob)
                : fetchDigest(manifest, { headers: accept });
          const failed = (e: Error) => ({ status: 0, digest: String(e.cause ?? e.message), bytes: 0 });
          let r = await get().catch(failed);
          // HTTP/1.1 has no way to say "closing" to an idle keep-alive connection: a client that
          // sends on one just as the server closes it sees the close before any response, and Go's
          // transport (docker, containerd, skopeo) sends such a GET again on a new connection
          const closedIdle = /other side closed|ECONNRESET/.test(r.digest);
          if (r.status === 0 && i < 8 && closedIdle) {
            resent++;
            r = await get().catch(failed);
          }
          if (r.status !== 200 || (i < 8 && i % 2 === 1 && r.digest !== big.config))
            failures.push(`${i < 8 ? "h1" : "h2"} ${r.status} ${r.digest}`);
          done++;
        }
      };
      const clients = Array.from({ length: 12 }, (_, i) => client(i));
      await new Promise((r) => setTimeout(r, 1_000));
      wharf.kill("SIGHUP");
      const deadline = Date.now() + 60_000;
      while ((wharf.logs().stdout.match(/"worker replaced"/g) ?? []).length < 2 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 200));
      await new Promise((r) => setTimeout(r, 1_000));
      running = false;
      await Promise.all(clients);
      const h2Resent = h2.reduce((a, c) => a + c.resent, 0);
      console.log(
        `rolling restart: ${done} requests, ${failures.length} failed, resent: ${resent} HTTP/1.1, ${h2Resent} HTTP/2 (not processed, per GOAWAY)`,
      );
      expect(failures).toEqual([]);
      expect(done).toBeGreaterThan(100);
      expect(resent).toBeLessThanOrEqual(2);
      expect((wharf.logs().stdout.match(/"worker replaced"/g) ?? []).length).toBe(2);
      // the last requests were served by the new workers only
      const last = requestLines(wharf).slice(-20);
      for (const l of last) expect(pidsBefore.has(l.pid)).toBe(false);
    } finally {
      for (const c of h2) c.close();
      await wharf.stop();
    }
  }, 120_000);

  it("a worker killed mid-fill: its fill fails for its followers, the next clients get the blob through another worker, nothing corrupt is kept", async () => {
    const { wharf } = await startWorkers("killed", { logLevel: "debug" });
    try {
      const { layer, size } = layerOf();
      const since = net.hubProxy.mark();
      // slow enough that the fill is still running when its worker is killed
      // until cleared below: a "times" count would also be spent by the 401 of a token exchange
      net.hubProxy.setRule(layer, { kind: "slow", bytesPerSecond: 4 * 1024 * 1024 });
      const url = `${wharf.httpUrl}/v2/docker.io/library/big/blobs/${layer}`;
      const first = Array.from({ length: 6 }, () => fetchFresh(url).catch((e: Error) => e));
      let holder: number | undefined;
      const deadline = Date.now() + 20_000;
      while (holder === undefined && Date.now() < deadline) {
        const granted = wharf
          .logs()
          .stdout.split("\n")
          .find((l) => l.includes('"fill lease granted"') && l.includes(layer));
        if (granted) holder = (JSON.parse(granted) as { pid: number }).pid;
        else await new Promise((r) => setTimeout(r, 100));
      }
      expect(holder).toBeDefined();
      await new Promise((r) => setTimeout(r, 1_500));
      process.kill(holder as number, "SIGKILL");
      net.hubProxy.clear();
      const cut = await Promise.all(first);
      // nobody got a complete download of wrong bytes: each either failed or has the right digest
      for (const r of cut) if (!(r instanceof Error) && r.bytes === size) expect(r.digest).toBe(layer);
      expect(cut.some((r) => r instanceof Error || r.bytes < size)).toBe(true);
      // the slot is refilled (backoff) and the next clients get the blob through the live worker(s)
      const again = await Promise.all(Array.from({ length: 4 }, () => fetchFresh(url)));
      for (const r of again) expect(r).toMatchObject({ status: 200, digest: layer, bytes: size });
      expect(upstreamGets(layer, since)).toBe(2);
      expect(wharf.logs().stdout).toContain("worker exited unexpectedly");
      const dataDir = String(wharf.config.dataDir);
      // the commit (fsync, rename) follows the clients' last byte
      const file = join(dataDir, "blobs", "sha256", layer.slice(7, 9), layer.slice(7));
      for (let i = 0; i < 100 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 100));
      const stored = await readFile(file);
      expect(`sha256:${createHash("sha256").update(stored).digest("hex")}`).toBe(layer);
      // the dead worker's temporary file was removed by the primary
      expect((await readdir(join(dataDir, "tmp"))).filter((f) => f.endsWith(".partial"))).toEqual([]);
    } finally {
      await wharf.stop();
    }
  }, 120_000);
});
