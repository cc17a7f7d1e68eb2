// The figures about manifests: request rates on a cached tag under h2load and ab (3), and what the
// upstream is asked for when clients pull a cached tag within and past its TTL (6).
import { readFileSync } from "node:fs";
import { Agent, request } from "undici";
import type { BenchWorld } from "./bench-world.ts";
import { abLoad, h2load, MANIFEST_ACCEPT } from "./clients.ts";
import { type Contender, SHORT_TTL_SECONDS, TTL_REPOSITORY } from "./contenders.ts";
import { type Figure, medians, type RunPlan, type Runs, record } from "./figure.ts";
import { cpuMeter } from "./proc-tree.ts";
import { UpstreamLog } from "./upstream-log.ts";

type Log = (line: string) => void;

/** Sequential manifest GETs by tag from this process (not a load test: a count of upstream effects). */
async function pullTag(w: BenchWorld, c: Contender, repository: string, n: number): Promise<void> {
  const agent = new Agent({ connect: { ca: readFileSync(w.env.caFile, "utf8"), servername: c.host } });
  try {
    for (let i = 0; i < n; i++) {
      const res = await request(`https://${c.ip}/v2/${repository}/manifests/latest`, {
        dispatcher: agent,
        headers: { host: c.host, accept: MANIFEST_ACCEPT, "user-agent": "wharf-bench" },
      });
      await res.body.dump();
      if (res.statusCode !== 200) throw new Error(`${c.name}: manifest GET answered ${res.statusCode}`);
    }
  } finally {
    await agent.close();
  }
}

/** Issue 19: manifest rates at least this fraction of nginx's, measured in the same run. */
export const MANIFEST_RATE_TARGET = 0.3;

type Method = "GET" | "HEAD";
type Protocol = "h2" | "h1";

/**
 * Figure 3: manifest HEAD and GET per second on a cached, fresh tag, over HTTP/2 (h2load, 8
 * connections × 8 streams) and HTTP/1.x (ab, 16 keep-alive connections), and the server CPU
 * time per 1,000 of them (HTTP/2, GET and HEAD together): the per-core figure a reader scales by
 * the cores of a bigger machine.
 */
export async function manifestRates(w: BenchWorld, plan: RunPlan, log: Log): Promise<Figure[]> {
  const path = "/v2/library/big/manifests/latest";
  const rates: Record<`${Protocol} ${Method}`, Runs> = {
    "h2 HEAD": {},
    "h2 GET": {},
    "h1 HEAD": {},
    "h1 GET": {},
  };
  const cpuPerK: Runs = {};
  const failed: Record<string, number> = {};
  for (const c of w.contenders) await pullTag(w, c, "library/big", 1);
  for (let run = 0; run < plan.loadRuns; run++) {
    for (const c of w.contenders) {
      let cpuSeconds = 0;
      let requests = 0;
      for (const proto of ["h2", "h1"] as const) {
        for (const method of ["GET", "HEAD"] as const) {
          const cpu = cpuMeter(() => c.pids());
          const r =
            proto === "h2"
              ? await h2load(c, path, { method, seconds: plan.loadSeconds, clients: 8, streams: 8 })
              : await abLoad(c, path, { method, seconds: plan.loadSeconds, connections: 16 });
          if (proto === "h2") {
            // the meter also counts the 1 s warm-up, whose requests h2load does not report
            cpuSeconds += cpu();
            requests += r.requestsPerSecond * (plan.loadSeconds + 1);
          }
          record(rates[`${proto} ${method}`], c.name, r.requestsPerSecond);
          failed[c.name] = (failed[c.name] ?? 0) + r.failed;
          log(
            `${proto} ${method} ${c.name} run ${run + 1}: ${r.requestsPerSecond.toFixed(0)} req/s, ${r.failed} failed`,
          );
        }
      }
      record(cpuPerK, c.name, (1000 * cpuSeconds) / Math.max(1, requests));
    }
  }
  const ids: Record<`${Protocol} ${Method}`, string> = {
    "h2 HEAD": "3a",
    "h2 GET": "3b",
    "h1 HEAD": "3c",
    "h1 GET": "3d",
  };
  const figures = (Object.keys(ids) as (keyof typeof ids)[]).map((key) => {
    const [proto, method] = key.split(" ") as [Protocol, Method];
    const values = medians(rates[key]);
    const cells = Object.fromEntries(
      Object.entries(values).map(([k, v]) => [
        k,
        `${v.toFixed(0)}${failed[k] ? ` (${failed[k]} failed)` : ""}`,
      ]),
    );
    const how = proto === "h2" ? "h2load 8×8 streams, HTTP/2" : "ab, 16 keep-alive connections, HTTP/1.x";
    const f: Figure = {
      id: ids[key],
      title: `manifest ${method} on a cached tag, ${how}`,
      unit: "req/s",
      better: "higher",
      values,
      cells,
      target: `wharf ≥ ${MANIFEST_RATE_TARGET}× nginx, no failures`,
    };
    const wr = values.wharf;
    const nr = values.nginx;
    f.holds =
      wr === undefined || nr === undefined ? undefined : wr >= MANIFEST_RATE_TARGET * nr && !failed.wharf;
    return f;
  });
  figures.push({
    id: "3e",
    title: "server CPU per 1,000 manifest requests (HTTP/2, GET and HEAD)",
    unit: "s",
    better: "lower",
    values: medians(cpuPerK),
    cells: Object.fromEntries(Object.entries(medians(cpuPerK)).map(([k, v]) => [k, v.toFixed(3)])),
  });
  return figures;
}

/** Figure 6: upstream manifest requests for 100 pulls of a cached tag, within and past its TTL. */
export async function tagRevalidation(w: BenchWorld, _plan: RunPlan, log: Log): Promise<Figure[]> {
  const ul = new UpstreamLog(`${w.upstream.dir}/access.log`);
  const within: Record<string, { get: number; head: number }> = {};
  const past: Record<string, { get: number; head: number }> = {};
  for (const c of w.contenders) {
    await pullTag(w, c, TTL_REPOSITORY, 1);
    await ul.settle(100);
    const mark = ul.mark();
    await pullTag(w, c, TTL_REPOSITORY, 100);
    await ul.settle(100);
    within[c.name] = ul.manifestRequests(TTL_REPOSITORY, mark);
  }
  // one wait for all: every contender's tag was fetched before it started
  await new Promise((r) => setTimeout(r, SHORT_TTL_SECONDS * 1000 + 500));
  for (const c of w.contenders) {
    const mark = ul.mark();
    await pullTag(w, c, TTL_REPOSITORY, 100);
    await ul.settle(100);
    past[c.name] = ul.manifestRequests(TTL_REPOSITORY, mark);
    log(`tag TTL ${c.name}: within ${JSON.stringify(within[c.name])}, past ${JSON.stringify(past[c.name])}`);
  }
  const show = (x: { get: number; head: number }) => `${x.get} GET, ${x.head} HEAD`;
  const fig = (id: string, when: string, counts: typeof within): Figure => ({
    id,
    title: `upstream manifest requests, 100 pulls of a cached tag ${when} its ${SHORT_TTL_SECONDS} s TTL`,
    unit: "GETs",
    better: "lower",
    values: Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, v.get])),
    cells: Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, show(v)])),
  });
  const a = fig("6a", "within", within);
  a.target = "wharf: 0 GET, 0 HEAD";
  a.holds = within.wharf ? within.wharf.get === 0 && within.wharf.head === 0 : undefined;
  const b = fig("6b", "past", past);
  b.target = "wharf: 0 GET, HEAD only";
  b.holds = past.wharf ? past.wharf.get === 0 && past.wharf.head >= 1 : undefined;
  return [a, b];
}
