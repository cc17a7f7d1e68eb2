// The figures that move blob bytes: cold pulls (1), warm layer throughput with 1 and 8 clients
// (2) and the cache's peak memory meanwhile (5), and 32 clients on one layer that is not cached
// yet (4). Contenders take turns within each run, so slow drifts of the machine hit all alike.
import type { BenchWorld } from "./bench-world.ts";
import { download, downloadMany, skopeoPull } from "./clients.ts";
import type { Contender } from "./contenders.ts";
import { type Figure, GiB, MiB, medians, type RunPlan, type Runs, record } from "./figure.ts";
import { cpuMeter, sampleRss } from "./proc-tree.ts";
import { UpstreamLog } from "./upstream-log.ts";

type Log = (line: string) => void;

function upstreamLog(w: BenchWorld): UpstreamLog {
  return new UpstreamLog(`${w.upstream.dir}/access.log`);
}

/** Figure 1: skopeo pulls of the big and the many-layer image, each contender emptied before every run. */
export async function coldPulls(w: BenchWorld, plan: RunPlan, log: Log): Promise<Figure[]> {
  const big: Runs = {};
  const many: Runs = {};
  const cpu: Runs = {};
  for (let run = 0; run < plan.coldRuns; run++) {
    for (const c of w.contenders) {
      await c.reset();
      record(many, c.name, await skopeoPull(c, w.env, w.images.refs.many as string));
      const cpuUsed = cpuMeter(() => c.pids());
      record(big, c.name, await skopeoPull(c, w.env, w.images.refs.big as string));
      record(cpu, c.name, cpuUsed() / (w.images.bigLayer.size / GiB));
      log(`cold pull ${c.name} run ${run + 1}: big ${big[c.name]?.at(-1)?.toFixed(2)} s`);
    }
  }
  const size = `${Math.round(w.images.bigLayer.size / MiB)} MiB`;
  const fig = (id: string, title: string, runs: Runs): Figure => {
    const values = medians(runs);
    const cells = Object.fromEntries(
      Object.entries(values).map(([k, v]) => [
        k,
        `${v.toFixed(2)} s (${(v / (values.direct ?? v)).toFixed(2)}×)`,
      ]),
    );
    return { id, title, unit: "s", better: "lower", values, cells };
  };
  const f1 = fig("1", `cold pull, big image (${size} layer), × direct`, big);
  const r =
    f1.values.wharf !== undefined && f1.values.direct ? f1.values.wharf / f1.values.direct : undefined;
  f1.target = "wharf ≤ 1.15× direct";
  f1.holds = r === undefined ? undefined : r <= 1.15;
  const f1c: Figure = {
    id: "1c",
    title: "server CPU per GiB of the big image's cold pull (the upstream's own CPU not included)",
    unit: "s/GiB",
    better: "lower",
    values: medians(cpu),
  };
  return [f1, fig("1b", "cold pull, 40 small layers, × direct", many), f1c];
}

async function warmUp(w: BenchWorld, c: Contender, path: string, size: number): Promise<void> {
  const ul = upstreamLog(w);
  // A layer asked for again while the first fetch is still being stored is fetched again by
  // distribution (testbed.md §3): download until a full download causes no upstream GET.
  for (let i = 0; i < 5; i++) {
    const mark = ul.mark();
    const d = await download(c, w.env, path);
    if (d.status !== 200 || d.bytes !== size)
      throw new Error(`${c.name}: warm-up got ${d.status}, ${d.bytes} B`);
    await ul.settle(200, 5_000);
    if (c.name === "direct" || ul.blobBytes(w.images.bigLayer.digest, mark) === 0) return;
  }
  throw new Error(`${c.name}: the big layer is still fetched upstream after 5 downloads`);
}

/** Issue 19's targets for figure 5 and 4c (peak RSS of 8 warm pulls, of the 32-client fill). */
export const WARM_RSS_TARGET_MIB = 100;
export const FILL_RSS_BOUND_MIB = 150;

/** Figures 2 and 5: warm throughput of the big layer, 1 and 8 clients; peak RSS during the 8. */
export async function warmThroughput(w: BenchWorld, plan: RunPlan, log: Log): Promise<Figure[]> {
  const { digest, size } = w.images.bigLayer;
  const path = `/v2/library/big/blobs/${digest}`;
  for (const c of w.contenders) await warmUp(w, c, path, size);
  const one: Runs = {};
  const eight: Runs = {};
  const rss: Record<string, number> = {};
  const cpu: Runs = {};
  const check = (c: Contender, results: { status: number; bytes: number }[]) => {
    for (const r of results)
      if (r.status !== 200 || r.bytes !== size)
        throw new Error(`${c.name}: got ${r.status}, ${r.bytes} of ${size} B`);
  };
  for (let run = 0; run < Math.max(plan.warmRuns, plan.warmParallelRuns); run++) {
    for (const c of w.contenders) {
      if (run < plan.warmRuns) {
        const d = await download(c, w.env, path);
        check(c, [d]);
        record(one, c.name, size / MiB / d.seconds);
      }
      if (run < plan.warmParallelRuns) {
        const sampler = sampleRss(() => c.pids());
        const cpuUsed = cpuMeter(() => c.pids());
        const m = await downloadMany(c, w.env, path, 8);
        const peak = sampler.stop();
        record(cpu, c.name, cpuUsed() / ((8 * size) / GiB));
        check(c, m.results);
        record(eight, c.name, (8 * size) / MiB / m.seconds);
        rss[c.name] = Math.max(rss[c.name] ?? 0, peak / MiB);
      }
    }
    log(
      `warm run ${run + 1}: ${w.contenders.map((c) => `${c.name} ${one[c.name]?.at(-1)?.toFixed(0)}`).join(", ")} MiB/s`,
    );
  }
  const mib = `${Math.round(size / MiB)} MiB`;
  const f2a: Figure = {
    id: "2a",
    title: `warm ${mib} layer, 1 client`,
    unit: "MiB/s",
    better: "higher",
    values: medians(one),
  };
  const f2b: Figure = {
    id: "2b",
    title: `warm ${mib} layer, 8 clients`,
    unit: "MiB/s",
    better: "higher",
    values: medians(eight),
  };
  for (const f of [f2a, f2b]) {
    f.target = "wharf ≥ 0.95× nginx";
    const w0 = f.values.wharf;
    const n = f.values.nginx;
    f.holds = w0 === undefined || n === undefined ? undefined : w0 >= 0.95 * n;
  }
  const f2c: Figure = {
    id: "2c",
    title: `server CPU per GiB sent, 8 clients on the ${mib} layer`,
    unit: "s/GiB",
    better: "lower",
    values: medians(cpu),
  };
  const f5: Figure = {
    id: "5",
    title: `peak RSS, 8 clients on the ${mib} layer`,
    unit: "MiB",
    better: "lower",
    values: rss,
  };
  f5.target = `wharf ≤ ${WARM_RSS_TARGET_MIB} MiB`;
  f5.holds = rss.wharf === undefined ? undefined : rss.wharf <= WARM_RSS_TARGET_MIB;
  return [f2a, f2b, f2c, f5];
}

/** Figure 4: `fillClients` clients at once on a layer the contender has not cached. */
export async function concurrentFill(w: BenchWorld, plan: RunPlan, log: Log): Promise<Figure[]> {
  const { digest, size } = w.images.fillLayer;
  const repo = digest === w.images.bigLayer.digest ? "library/big" : "library/mid";
  const ul = upstreamLog(w);
  const times: Runs = {};
  const fetched: Runs = {};
  const bad: Record<string, number> = {};
  const fillRss: Record<string, number> = {};
  for (let run = 0; run < plan.fillRuns; run++) {
    for (const c of w.contenders) {
      await c.reset();
      const mark = ul.mark();
      const sampler = sampleRss(() => c.pids());
      const m = await downloadMany(c, w.env, `/v2/${repo}/blobs/${digest}`, plan.fillClients, {
        digest: true,
      });
      fillRss[c.name] = Math.max(fillRss[c.name] ?? 0, sampler.stop() / MiB);
      await ul.settle();
      const wrong = m.results.filter(
        (r) => r.status !== 200 || r.bytes !== size || r.digest !== digest,
      ).length;
      bad[c.name] = (bad[c.name] ?? 0) + wrong;
      record(times, c.name, m.seconds);
      record(fetched, c.name, ul.blobBytes(digest, mark) / size);
      log(
        `fill ${c.name} run ${run + 1}: ${m.seconds.toFixed(2)} s, upstream ${fetched[c.name]?.at(-1)?.toFixed(2)}×, ${wrong} bad`,
      );
    }
  }
  const title = `${plan.fillClients} clients, one uncached ${Math.round(size / MiB)} MiB layer`;
  const bytes: Figure = {
    id: "4a",
    title: `${title}: upstream bytes ÷ layer size`,
    unit: "×",
    better: "lower",
    values: medians(fetched),
    cells: Object.fromEntries(
      Object.entries(medians(fetched)).map(([k, v]) => [
        k,
        `${v.toFixed(2)}×${bad[k] ? ` (${bad[k]} bad)` : ""}`,
      ]),
    ),
    target: "wharf = 1.0×, every client verified",
  };
  bytes.holds = bytes.values.wharf === undefined ? undefined : bytes.values.wharf === 1 && bad.wharf === 0;
  const last: Figure = {
    id: "4b",
    title: `${title}: time to the last client`,
    unit: "s",
    better: "lower",
    values: medians(times),
  };
  last.target = "wharf ≤ 1.1× nginx";
  const wt = last.values.wharf;
  const nt = last.values.nginx;
  last.holds = wt === undefined || nt === undefined ? undefined : wt <= 1.1 * nt;
  const rss: Figure = {
    id: "4c",
    title: `${title}: peak RSS`,
    unit: "MiB",
    better: "lower",
    values: fillRss,
    target: `wharf ≤ ${FILL_RSS_BOUND_MIB} MiB`,
  };
  rss.holds = fillRss.wharf === undefined ? undefined : fillRss.wharf <= FILL_RSS_BOUND_MIB;
  return [bytes, last, rss];
}
