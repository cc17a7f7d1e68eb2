// wharf with 1 and with 2 workers (docs/workers.md), side by side on the bench images:
// - N clients at once on one uncached layer: upstream GETs (1 whichever worker a client reaches),
//   digests, time to the last client, first byte of the clients;
// - 8 clients on the cached layer: CPU seconds of the whole process tree per GiB served, peak RSS;
// - h2load manifest GETs on a cached tag: requests/s and CPU seconds per 1,000 requests.
// `node bench/workers-bench.ts [--quick] [--json file] [--write]`; bench/workers.test.ts runs
// --quick. `--write` puts the table, with the run's date, machine and load, into bench/results.md.
import { writeFile } from "node:fs/promises";
import { loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { loopbackIp } from "../test/support/ports.ts";
import { runCommand } from "../test/support/run-command.ts";
import { createSandbox } from "../test/support/sandbox.ts";
import { makeTempDir } from "../test/support/temp-dir.ts";
import { makeTestCa, type TestCa } from "../test/support/test-ca.ts";
import { startUpstreamRegistry } from "../test/support/upstream-registry.ts";
import { startWharf, type WharfProcess } from "../test/support/wharf-process.ts";
import { benchImages, pushBenchImages } from "./bench-images.ts";
import { ensureBenchTools } from "./bench-world.ts";
import { MANIFEST_ACCEPT } from "./clients.ts";
import { cpuMeter, rssBytes, sampleRss, treePids } from "./proc-tree.ts";
import { replaceSection, runSummary } from "./report.ts";

const HOST = "wharf.bench.test";
const UPSTREAM = "upstream.bench.test";
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

export interface WorkersRow {
  workers: number;
  fillClients: number;
  fillUpstreamGets: number;
  fillBad: number;
  fillSeconds: number;
  /** Median and slowest time to the first body byte over the fill's clients. */
  fillFirstByteMedian: number;
  fillFirstByteMax: number;
  warmGiB: number;
  warmSeconds: number;
  cpuSecondsPerGiB: number;
  peakRssMiB: number;
  idleRssMiB: number;
  manifestRate: number;
  manifestFailed: number;
  cpuSecondsPer1000Manifests: number;
  /** Requests each worker served (GET /api/workers), in slot order. */
  perWorker: number[];
}

function log(line: string): void {
  console.error(`[${(performance.now() / 1000).toFixed(1).padStart(6)} s] ${line}`);
}

/** curl of `path`, body hashed; the digest, status, bytes and time to the first byte. */
async function curlDigest(ip: string, caFile: string, path: string) {
  const curl = ["curl", "-sS", "--noproxy", "*", "--max-time", "900", "--resolve", `${HOST}:443:${ip}`];
  curl.push(
    "--cacert",
    caFile,
    "-o",
    "-",
    "-w",
    "%{stderr}%{http_code} %{size_download} %{time_starttransfer}",
  );
  curl.push(`https://${HOST}${path}`);
  const r = await runCommand(
    ["bash", "-c", 'set -o pipefail; "$@" | openssl dgst -sha256 -r', "bash", ...curl],
    {
      timeoutMs: 900_000,
    },
  );
  const [status, bytes, ttfb] = r.stderr.trim().split("\n").pop()?.split(" ").map(Number) ?? [];
  return { status, bytes, ttfb: ttfb ?? 0, digest: `sha256:${r.stdout.trim().split(" ")[0]}` };
}

/** h2load without warm-up, so that its request count and the CPU meter cover the same requests. */
async function h2loadGet(ip: string, path: string, seconds: number) {
  const sandbox = await createSandbox({ hosts: { [HOST]: ip } });
  try {
    // the load shape of figure 3 (8 connections × 8 streams), so CPU per request compares with 3e
    const argv = ["h2load", "-c", "8", "-m", "8", "-D", String(seconds), "-H", `accept: ${MANIFEST_ACCEPT}`];
    const r = await runCommand(sandbox.wrap([...argv, `https://${HOST}${path}`]), {
      timeoutMs: (seconds + 30) * 1000,
    });
    const reqs = /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed/.exec(r.stdout);
    const rate = /finished in [\d.]+\w*, ([\d.]+) req\/s/.exec(r.stdout);
    if (!reqs || !rate) throw new Error(`h2load output not understood:\n${r.stdout}`);
    return { succeeded: Number(reqs[1]), failed: Number(reqs[2]), rate: Number(rate[1]) };
  } finally {
    await sandbox.dispose();
  }
}

function wharfConfig(ca: TestCa, ip: string, upstream: string, workers: number, admin: string) {
  return {
    workers,
    listen: { http: `${ip}:5000`, https: `${ip}:443`, dns: null, admin },
    upstreamCaFile: ca.caCert,
    tls: { caCertFile: ca.caCert, caKeyFile: ca.caKey },
    defaultRegistry: HOST,
    registries: { [HOST]: { upstream: `https://${upstream}`, tagTtl: "1h" } },
  };
}

export async function measureWorkers(opts: { quick: boolean; workers: number[] }): Promise<WorkersRow[]> {
  await ensureBenchTools(log);
  const images = await benchImages(opts.quick ? 256 : 1024, 0);
  const temp = await makeTempDir("wharf-bench-workers-");
  const ip = { upstream: loopbackIp(), wharf: loopbackIp() };
  const ca = await makeTestCa(join(temp.path, "pki"), { dnsNames: [HOST, UPSTREAM], ips: Object.values(ip) });
  const upstream = await startUpstreamRegistry({ host: ip.upstream, cert: ca.cert, key: ca.key });
  const rows: WorkersRow[] = [];
  try {
    await pushBenchImages(images, UPSTREAM, { certDir: ca.certDir, hosts: { [UPSTREAM]: ip.upstream } });
    const { digest, size } = images.bigLayer;
    const blob = `/v2/library/big/blobs/${digest}`;
    const fillClients = opts.quick ? 16 : 32;
    for (const workers of opts.workers) {
      const admin = `${ip.wharf}:9090`;
      const wharf: WharfProcess = await startWharf({
        config: wharfConfig(ca, ip.wharf, ip.upstream, workers, admin),
      });
      try {
        const pids = () => [wharf.pid];
        await new Promise((r) => setTimeout(r, 1_000)); // every worker listening, start-up CPU done
        const idleRssMiB = rssBytes(treePids(pids())) / MiB;
        const mark = upstream.mark();
        let started = performance.now();
        const fill = await Promise.all(
          Array.from({ length: fillClients }, () => curlDigest(ip.wharf, ca.caCert, blob)),
        );
        const fillSeconds = (performance.now() - started) / 1000;
        const fillBad = fill.filter(
          (r) => r.status !== 200 || r.bytes !== size || r.digest !== digest,
        ).length;
        const fillUpstreamGets = upstream.count(
          (r) => r.method === "GET" && r.path.endsWith(`/blobs/${digest}`) && r.status === 200,
          mark,
        );
        const ttfb = fill.map((r) => r.ttfb).sort((a, b) => a - b);
        log(
          `workers ${workers}: fill ${fillSeconds.toFixed(1)} s, ${fillUpstreamGets} upstream GET, ${fillBad} bad`,
        );
        // warm: 8 clients on the stored layer
        const rss = sampleRss(pids);
        const cpu = cpuMeter(pids);
        started = performance.now();
        const warm = await Promise.all(
          Array.from({ length: 8 }, () => curlDigest(ip.wharf, ca.caCert, blob)),
        );
        const warmSeconds = (performance.now() - started) / 1000;
        const warmCpu = cpu();
        const peakRssMiB = rss.stop() / MiB;
        const warmGiB = warm.reduce((a, r) => a + (r.bytes ?? 0), 0) / GiB;
        // manifests: the tag is fetched once, then served from the cache
        const manifest = "/v2/library/big/manifests/latest";
        await h2loadGet(ip.wharf, manifest, 1);
        const mcpu = cpuMeter(pids);
        const m = await h2loadGet(ip.wharf, manifest, opts.quick ? 3 : 10);
        const manifestCpu = mcpu();
        await new Promise((r) => setTimeout(r, 600)); // the workers' last reports
        const report = (await (await fetch(`http://${admin}/api/workers`)).json().catch(() => ({}))) as {
          workers?: { requests: number }[];
        };
        const row: WorkersRow = {
          workers,
          fillClients,
          fillUpstreamGets,
          fillBad,
          fillSeconds,
          fillFirstByteMedian: ttfb[Math.floor(ttfb.length / 2)] ?? 0,
          fillFirstByteMax: ttfb.at(-1) ?? 0,
          warmGiB,
          warmSeconds,
          cpuSecondsPerGiB: warmCpu / warmGiB,
          peakRssMiB,
          idleRssMiB,
          manifestRate: m.rate,
          manifestFailed: m.failed,
          cpuSecondsPer1000Manifests: manifestCpu / (m.succeeded / 1000),
          perWorker: report.workers?.map((w) => w.requests) ?? [],
        };
        log(JSON.stringify(row));
        rows.push(row);
      } finally {
        await wharf.stop();
      }
    }
  } finally {
    await upstream.stop();
    await temp.remove();
  }
  return rows;
}

export function workersTable(rows: WorkersRow[]): string {
  const f = (n: number, d = 2) => n.toFixed(d);
  const lines = [
    "| workers | fill: upstream GETs, bad | fill: last client s | fill: first byte median / max s | warm CPU s per GiB | warm GiB/s | peak RSS MiB (idle) | manifest GET req/s | CPU s per 1,000 manifests | requests per worker |",
    "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|",
  ];
  for (const r of rows)
    lines.push(
      `| ${r.workers} | ${r.fillUpstreamGets}, ${r.fillBad} (${r.fillClients} clients) | ${f(r.fillSeconds, 1)} | ${f(r.fillFirstByteMedian)} / ${f(r.fillFirstByteMax)} | ${f(r.cpuSecondsPerGiB)} | ${f(r.warmGiB / r.warmSeconds)} | ${f(r.peakRssMiB, 0)} (${f(r.idleRssMiB, 0)}) | ${f(r.manifestRate, 0)}${r.manifestFailed ? ` (${r.manifestFailed} failed)` : ""} | ${f(r.cpuSecondsPer1000Manifests, 3)} | ${r.perWorker.join(" / ")} |`,
    );
  return lines.join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      json: { type: "string" },
      write: { type: "boolean", default: false },
    },
  });
  const quick = values.quick ?? false;
  const started = new Date();
  const loadBefore = loadavg();
  const t0 = performance.now();
  const rows = await measureWorkers({ quick, workers: [1, 2] });
  const table = workersTable(rows);
  console.log(table);
  if (values.json) await writeFile(values.json, JSON.stringify(rows, null, 2));
  if (values.write) {
    const summary = runSummary({ quick, started, loadBefore, wallSeconds: (performance.now() - t0) / 1000 });
    await replaceSection(
      fileURLToPath(new URL("./results.md", import.meta.url)),
      "<!-- bench:workers:begin (written by bench/workers-bench.ts --write) -->",
      "<!-- bench:workers:end -->",
      `${summary}\n\n${table}`,
    );
  }
}
