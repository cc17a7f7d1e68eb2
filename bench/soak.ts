// `npm run soak [-- --minutes N]` (issue 13): N minutes (default 10, or SOAK_MINUTES) of mixed
// clients against a real wharf process and real local upstreams: verified pulls (cached and, with
// a cache far smaller than the images, constantly evicted), revalidation storms on a tagTtl-0
// registry, curl ranged reads, stalled readers, upstream faults, skopeo pulls and `wharf cache gc`
// beside the server. Samples wharf's RSS and open fds. Exits 1 on any wrong byte delivered as a
// success, on growth beyond the bounds after a settle period, or if wharf dies. Options:
// --settle S (default 20), --rss-bound MiB (default 128), --fd-bound N (default 24), --no-write
// (leave bench/results.md alone), --json FILE (samples, counts and verdict, for bench/soak.test.ts).
import { writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { SoakClients } from "./soak-clients.ts";
import { soakReport, writeSoakResults } from "./soak-report.ts";
import { judge, type Sample, SoakSampler } from "./soak-sampler.ts";
import { startSoakWorld } from "./soak-world.ts";

const RESULTS = fileURLToPath(new URL("./results.md", import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function log(line: string): void {
  console.error(`[${(performance.now() / 1000).toFixed(1).padStart(6)} s] ${line}`);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      minutes: { type: "string", default: process.env.SOAK_MINUTES ?? "10" },
      settle: { type: "string", default: "20" },
      "rss-bound": { type: "string", default: "128" },
      "fd-bound": { type: "string", default: "24" },
      "no-write": { type: "boolean", default: false },
      json: { type: "string" },
    },
  });
  const minutes = Number(values.minutes);
  if (!(minutes > 0 && minutes <= 24 * 60))
    throw new Error(`--minutes: expected 0 < N ≤ 1440, got ${values.minutes}`);
  const loadMs = minutes * 60_000;
  const settleMs = Number(values.settle) * 1000;
  // a hung client or server must not hang the soak: hard stop well after the planned end
  const watchdog = setTimeout(
    () => {
      log("soak: watchdog fired, the run overran by 5 minutes");
      process.exit(1);
    },
    loadMs + settleMs + 600_000,
  );
  watchdog.unref();

  const world = await startSoakWorld({ images: 8, layerMiB: 6, maxSize: "24MiB", log });
  let alive = true;
  void world.wharf.exited.then(() => {
    alive = false;
  });
  const clients = new SoakClients(world);
  const sampler = new SoakSampler(world.wharf.pid, clients.tallies);
  const started = new Date();
  try {
    await sleep(2000);
    const idle = sampler.take();
    log(`soak: idle RSS ${idle.rssMiB} MiB, ${idle.fds} fds; ${minutes} min of load`);
    sampler.start(minutes <= 3 ? 2000 : 5000);
    let warm: Sample | undefined;
    const warmTimer = setTimeout(
      () => {
        warm = sampler.take();
      },
      Math.min(60_000, loadMs / 4),
    );
    const progress = setInterval(() => {
      const s = sampler.samples.at(-1);
      if (s) log(`t=${s.t}s RSS ${s.rssMiB} MiB fds ${s.fds} ok ${s.ok} errors ${s.errors} wrong ${s.wrong}`);
    }, 30_000);
    const plan = {
      deadline: Date.now() + loadMs,
      pullWorkers: 3,
      stormSize: 40,
      stallSockets: 3,
      stallHoldMs: 20_000,
    };
    await Promise.all([
      clients.pulls(plan),
      clients.storms(plan),
      clients.ranges(plan),
      clients.stalls(plan),
      clients.skopeo(plan),
      clients.gc(plan),
      clients.faults(plan),
    ]);
    clearTimeout(warmTimer);
    clearInterval(progress);
    await clients.stop();
    log(`soak: load over; settling ${settleMs / 1000} s`);
    await sleep(settleMs);
    sampler.stop();
    const end = sampler.take();
    const bounds = { rssMiB: Number(values["rss-bound"]), fds: Number(values["fd-bound"]) };
    const verdict = judge(
      { idle, warm: warm ?? idle, end, all: sampler.samples },
      clients.tallies,
      bounds,
      alive,
    );
    const report = soakReport({
      minutes,
      samples: sampler.samples,
      tallies: clients.tallies,
      verdict,
      started,
    });
    console.log(report);
    if (!values["no-write"]) {
      await writeSoakResults(RESULTS, report);
      log(`written to ${RESULTS}`);
    }
    if (values.json) {
      const json = { minutes, bounds, verdict, tallies: clients.tallies.by, samples: sampler.samples };
      await writeFile(values.json, `${JSON.stringify(json, null, 2)}\n`);
    }
    if (!alive) console.error(world.wharf.logs().stderr.slice(-4000));
    return verdict.pass ? 0 : 1;
  } finally {
    sampler.stop();
    await clients.stop();
    await world.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
