// workers: 2 end to end (docs/workers.md): real wharf processes (a primary and two workers)
// against docker-registry behind the counting tamper proxy. Concurrent clients of one uncached
// layer, reaching both workers, cost one upstream GET; a rolling restart (SIGHUP) under load
// drops no request; a worker killed mid-fill leaves no corrupt entry and another one completes
// the fill; the admin endpoint's /metrics sums what the workers served.
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readManifestDigests } from "../support/images.ts";
import { hubGatewayConfig, type LoopbackInternet, startLoopbackInternet } from "../support/loopback-internet.ts";
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
    config: { workers: 2, listen: { http: `${ip}:5000`, https: null, dns: null, admin }, ...extra },
  });
  const wharf = await startWharf({ config });
  return { wharf, adminUrl: `http://${admin}` };
}

function layerOf(): { layer: string; size: number } {
  const big = readManifestDigests("big");
  const size = Math.max(...big.layerSizes);
  return { layer: big.layers[big.layerSizes.indexOf(size)] as string, size };
}

const upstreamGets = (layer: string, since: number) =>
  net.hubProxy.count((r) => r.method === "GET" && r.path.endsWith(`/blobs/${layer}`) && r.status !== 401, since);

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
      const lines = requestLines(wharf).filter((l) => l.reference === layer);
      expect(lines).toHaveLength(24);
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
    } finally {
      await wharf.stop();
    }
  }, 120_000);
});
