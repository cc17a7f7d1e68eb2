// Issue 13, failure 3: with tagTtl 0 every pull of a tag is checked upstream. Concurrent checks of
// one tag must share one upstream HEAD, upstream connections must be reused, and wharf's memory
// must stay bounded under h2load through the TLS gateway (the reproduction).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  HUB,
  hubGatewayConfig,
  type LoopbackInternet,
  startLoopbackInternet,
} from "../support/loopback-internet.ts";
import { loopbackIp } from "../support/ports.ts";
import { runCommand } from "../support/run-command.ts";
import { createSandbox } from "../support/sandbox.ts";
import { makeTempDir, type TempDir } from "../support/temp-dir.ts";
import { startWharf, type WharfProcess } from "../support/wharf-process.ts";

const PATH = "/v2/library/busybox/manifests/latest";
const ACCEPT = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";

let net: LoopbackInternet;
let wharf: WharfProcess;
let tmp: TempDir;
let wharfIp: string;

beforeAll(async () => {
  tmp = await makeTempDir("wharf-e2e-storm-");
  net = await startLoopbackInternet({ push: ["busybox"] });
  wharfIp = loopbackIp();
  wharf = await startWharf({
    config: await hubGatewayConfig(net, {
      ip: wharfIp,
      dataDir: join(tmp.path, "data"),
      registry: { tagTtl: 0 },
    }),
  });
  const first = await fetch(`${wharf.httpUrl}${PATH}?ns=docker.io`, { headers: { accept: ACCEPT } });
  expect(first.status).toBe(200);
  await first.arrayBuffer();
}, 180_000);

afterAll(async () => {
  await wharf?.stop();
  await net?.stop();
  await tmp?.remove();
});

function rssMiB(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  return Number(kb) / 1024;
}

/** Runs h2load through wharf's TLS gateway; returns succeeded and failed request counts. */
async function h2load(args: string[]): Promise<{ ok: number; failed: number; text: string }> {
  const sandbox = await createSandbox({ hosts: { [HUB]: wharfIp } });
  try {
    const r = await runCommand(
      sandbox.wrap(["h2load", ...args, "-H", `accept: ${ACCEPT}`, `https://${HUB}${PATH}`]),
      {
        timeoutMs: 120_000,
      },
    );
    const m = /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed/.exec(r.stdout);
    const codes = /status codes: (\d+) 2xx/.exec(r.stdout);
    if (!m || !codes) throw new Error(`h2load output not understood:\n${r.stdout}`);
    return { ok: Number(codes[1]), failed: Number(m[2]) + Number(m[1]) - Number(codes[1]), text: r.stdout };
  } finally {
    await sandbox.dispose();
  }
}

const heads = (since: number) => net.hubProxy.count({ method: "HEAD", path: PATH }, since);

/** wharf's TCP connections to the tamper proxy (its upstream) in `state`. */
async function upstreamSockets(state: "time-wait" | "established"): Promise<number> {
  const { hostname, port } = new URL(net.hubProxy.url);
  const p = port || "443";
  const filter = `( dst ${hostname} and dport = :${p} ) or ( src ${hostname} and sport = :${p} )`;
  const r = await runCommand(["ss", "-Htn", "state", state, filter]);
  return r.stdout.split("\n").filter((l) => l.trim()).length;
}

describe("tagTtl 0 under load", () => {
  it("200 concurrent pulls of one tag cost a handful of upstream HEADs", async () => {
    const mark = net.hubProxy.mark();
    const r = await h2load(["-n", "200", "-c", "2", "-m", "100"]);
    expect(r.failed, r.text).toBe(0);
    expect(r.ok).toBe(200);
    const n = heads(mark);
    expect(n).toBeGreaterThanOrEqual(1);
    expect(n).toBeLessThanOrEqual(5);
  }, 120_000);

  it("sequential pulls reuse upstream connections", async () => {
    const before = await upstreamSockets("time-wait");
    const mark = net.hubProxy.mark();
    for (let i = 0; i < 50; i++) {
      const res = await fetch(`${wharf.httpUrl}${PATH}?ns=docker.io`, { headers: { accept: ACCEPT } });
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    }
    expect(heads(mark)).toBe(50);
    expect((await upstreamSockets("time-wait")) - before).toBeLessThanOrEqual(2);
    expect(await upstreamSockets("established")).toBeLessThanOrEqual(8);
  }, 120_000);

  it("keeps memory bounded under h2load -n 1000 -c 10 -m 20, and answers every request", async () => {
    const before = rssMiB(wharf.pid);
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssMiB(wharf.pid));
    }, 50);
    try {
      for (let round = 0; round < 3; round++) {
        const r = await h2load(["-n", "1000", "-c", "10", "-m", "20"]);
        expect(r.failed, r.text).toBe(0);
      }
    } finally {
      clearInterval(sampler);
    }
    console.log(`wharf RSS: ${before.toFixed(0)} MiB before, ${peak.toFixed(0)} MiB peak`);
    expect(peak - before).toBeLessThan(80);
  }, 240_000);
});
