// Figure 7 (issue 13): a revalidation storm. A tag with tagTtl 0 is checked upstream on every
// pull; h2load keeps 200 streams open against it (2 connections × 100 streams). Measured: requests
// per second, the peak RSS of the serving process tree, and how many manifest requests reached
// the upstream (wharf shares one HEAD between the pulls that find the tag stale at once).
import type { BenchWorld } from "./bench-world.ts";
import { h2load } from "./clients.ts";
import { ALWAYS_REPOSITORY } from "./contenders.ts";
import { type Figure, MiB, medians, type RunPlan, type Runs, record } from "./figure.ts";
import { sampleRss } from "./proc-tree.ts";
import { UpstreamLog } from "./upstream-log.ts";

type Log = (line: string) => void;

/** wharf's peak RSS under the storm stays below this (the issue saw 545 MB and 3.2 GB). */
export const STORM_RSS_BOUND_MIB = 200;

export async function revalidationStorm(w: BenchWorld, plan: RunPlan, log: Log): Promise<Figure[]> {
  const path = `/v2/${ALWAYS_REPOSITORY}/manifests/latest`;
  const ul = new UpstreamLog(`${w.upstream.dir}/access.log`);
  const rates: Runs = {};
  const peaks: Runs = {};
  const failed: Record<string, number> = {};
  const upstream: Record<string, { requests: number; get: number; head: number }> = {};
  for (let run = 0; run < plan.loadRuns; run++) {
    for (const c of w.contenders) {
      await ul.settle(100);
      const mark = ul.mark();
      const rss = sampleRss(() => c.pids());
      const r = await h2load(c, path, { method: "GET", seconds: plan.loadSeconds, clients: 2, streams: 100 });
      const peak = rss.stop() / MiB;
      await ul.settle(100);
      const seen = ul.manifestRequests(ALWAYS_REPOSITORY, mark);
      record(rates, c.name, r.requestsPerSecond);
      record(peaks, c.name, peak);
      failed[c.name] = (failed[c.name] ?? 0) + r.failed;
      const u = upstream[c.name] ?? { requests: 0, get: 0, head: 0 };
      // h2load's count excludes its warm-up second, whose requests the upstream saw too
      u.requests += r.succeeded + r.failed;
      u.get += seen.get;
      u.head += seen.head;
      upstream[c.name] = u;
      log(
        `storm ${c.name} run ${run + 1}: ${r.requestsPerSecond.toFixed(0)} req/s, ${r.failed} failed, ` +
          `peak ${peak.toFixed(0)} MiB, upstream ${seen.get} GET + ${seen.head} HEAD`,
      );
    }
  }
  const rate: Figure = {
    id: "7a",
    title: "manifest GET on a tagTtl 0 tag, h2load 2×100 streams",
    unit: "req/s",
    better: "higher",
    values: medians(rates),
    cells: Object.fromEntries(
      Object.entries(medians(rates)).map(([k, v]) => {
        const u = upstream[k];
        const note = u ? `, upstream ${u.get} GET + ${u.head} HEAD for ≥ ${u.requests} pulls` : "";
        return [k, `${v.toFixed(0)}${failed[k] ? ` (${failed[k]} failed)` : ""}${note}`];
      }),
    ),
    target: "wharf: no failures, upstream requests ≤ 1/10 of pulls",
  };
  const wu = upstream.wharf;
  rate.holds = wu ? !failed.wharf && (wu.get + wu.head) * 10 <= wu.requests : undefined;
  const memory: Figure = {
    id: "7b",
    title: "peak RSS during figure 7a",
    unit: "MiB",
    better: "lower",
    values: medians(peaks),
    target: `wharf ≤ ${STORM_RSS_BOUND_MIB} MiB`,
  };
  memory.holds = peaks.wharf ? (memory.values.wharf as number) <= STORM_RSS_BOUND_MIB : undefined;
  return [rate, memory];
}
