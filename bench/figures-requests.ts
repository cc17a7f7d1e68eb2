// The figures about manifests: request rates on a cached tag under h2load (3), and what the
// upstream is asked for when clients pull a cached tag within and past its TTL (6).
import { readFileSync } from "node:fs";
import { Agent, request } from "undici";
import type { BenchWorld } from "./bench-world.ts";
import { h2load, MANIFEST_ACCEPT } from "./clients.ts";
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

/** Figure 3: manifest GET and HEAD per second on a cached, fresh tag. */
export async function manifestRates(w: BenchWorld, plan: RunPlan, log: Log): Promise<Figure[]> {
  const path = "/v2/library/big/manifests/latest";
  const rates: Record<"GET" | "HEAD", Runs> = { GET: {}, HEAD: {} };
  // CPU per request: what a hot-path change costs, steadier than a rate on a shared machine
  const cpu: Runs = {};
  const failed: Record<string, number> = {};
  for (const c of w.contenders) {
    await pullTag(w, c, "library/big", 1);
    // one unmeasured second first: a JIT warming up would count against the first run's CPU
    await h2load(c, path, { method: "GET", seconds: 1, clients: 8, streams: 8 });
  }
  for (let run = 0; run < plan.loadRuns; run++) {
    for (const c of w.contenders) {
      for (const method of ["GET", "HEAD"] as const) {
        const cpuUsed = cpuMeter(() => c.pids());
        const r = await h2load(c, path, { method, seconds: plan.loadSeconds, clients: 8, streams: 8 });
        record(rates[method], c.name, r.requestsPerSecond);
        if (method === "GET" && r.succeeded > 0) record(cpu, c.name, (cpuUsed() * 1e6) / r.succeeded);
        failed[c.name] = (failed[c.name] ?? 0) + r.failed;
        log(
          `${method} ${c.name} run ${run + 1}: ${r.requestsPerSecond.toFixed(0)} req/s, ${r.failed} failed`,
        );
      }
    }
  }
  const perRequest: Figure = {
    id: "3c",
    title: "server CPU per manifest GET on a cached tag, h2load 8×8 streams",
    unit: "µs",
    better: "lower",
    values: medians(cpu),
  };
  const byMethod = (["HEAD", "GET"] as const).map((method) => {
    const values = medians(rates[method]);
    const cells = Object.fromEntries(
      Object.entries(values).map(([k, v]) => [
        k,
        `${v.toFixed(0)}${failed[k] ? ` (${failed[k]} failed)` : ""}`,
      ]),
    );
    const f: Figure = {
      id: method === "HEAD" ? "3a" : "3b",
      title: `manifest ${method} on a cached tag, h2load 8×8 streams`,
      unit: "req/s",
      better: "higher",
      values,
      cells,
      target: "wharf ≥ 10× distribution, no failures",
    };
    const wr = values.wharf;
    const dr = values.distribution;
    f.holds = wr === undefined || dr === undefined ? undefined : wr >= 10 * dr && !failed.wharf;
    return f;
  });
  return [...byMethod, perRequest];
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
