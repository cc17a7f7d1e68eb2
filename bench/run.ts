// wharf against distribution's proxy, nginx proxy_cache and direct pulls (issue 9), on this
// machine, over TLS on loopback. `node bench/run.ts [--quick] [--only wharf,nginx]
// [--figures 1,2,3,4,6,7,8] [--cpu-prof DIR] [--no-write] [--json FILE] [--access-rules]
// [--wharf-workers N]` (wharf as N processes, `workers: N`; default 1, so RSS is one process's) (wharf with
// access rules on, for issue 16's "within 10 %" of the figures without). Prints one table and writes it
// into bench/results.md (and, with --json, the figures as JSON for bench/bench.test.ts). Every process it starts is stopped at the end (also on Ctrl-C).
import { writeFile } from "node:fs/promises";
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { type BenchWorld, startBenchWorld } from "./bench-world.ts";
import { CONTENDERS, type ContenderName } from "./contenders.ts";
import { type Figure, MiB, type RunPlan } from "./figure.ts";
import { replicaFigures } from "./figures-replicas.ts";
import { manifestRates, tagRevalidation } from "./figures-requests.ts";
import { revalidationStorm } from "./figures-storm.ts";
import { coldPulls, concurrentFill, warmThroughput } from "./figures-transfer.ts";
import { rssBytes, treePids } from "./proc-tree.ts";
import { markdownTable, runSummary, textTable, writeResults } from "./report.ts";

const RESULTS = fileURLToPath(new URL("./results.md", import.meta.url));

const FULL: RunPlan = {
  quick: false,
  coldRuns: 3,
  warmRuns: 5,
  warmParallelRuns: 3,
  loadSeconds: 4,
  loadRuns: 3,
  fillRuns: 3,
  fillClients: 32,
};
const QUICK: RunPlan = {
  quick: true,
  coldRuns: 2,
  warmRuns: 3,
  warmParallelRuns: 1,
  loadSeconds: 1,
  loadRuns: 1,
  fillRuns: 1,
  fillClients: 32,
};

type Step = (w: BenchWorld, plan: RunPlan, log: (line: string) => void) => Promise<Figure[]>;

/** In this order: the fill figure empties every cache, so it runs last. */
const STEPS: [string, Step][] = [
  ["1", coldPulls],
  ["2", warmThroughput],
  ["3", manifestRates],
  ["6", tagRevalidation],
  ["7", revalidationStorm],
  ["8", replicaFigures],
  ["4", concurrentFill],
];

/** Figure 5b: each contender's RSS after its start, before any request. */
function idleRss(world: BenchWorld): Figure {
  const values = Object.fromEntries(
    world.contenders.map((c) => [c.name, rssBytes(treePids(c.pids())) / MiB]),
  );
  return {
    id: "5b",
    title: "idle RSS after start, before any request",
    unit: "MiB",
    better: "lower",
    values,
  };
}

function log(line: string): void {
  const t = (performance.now() / 1000).toFixed(1).padStart(6);
  console.error(`[${t} s] ${line}`);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      only: { type: "string" },
      figures: { type: "string" },
      "cpu-prof": { type: "string" },
      "no-write": { type: "boolean", default: false },
      json: { type: "string" },
      "access-rules": { type: "boolean", default: false },
      "wharf-workers": { type: "string", default: "1" },
    },
  });
  const plan = values.quick ? QUICK : FULL;
  const wharfWorkers = Number(values["wharf-workers"]);
  if (!Number.isInteger(wharfWorkers) || wharfWorkers < 1)
    throw new Error(`--wharf-workers: a whole number ≥ 1, not ${values["wharf-workers"]}`);
  const only = values.only?.split(",").map((s) => s.trim()) as ContenderName[] | undefined;
  const bad = only?.filter((c) => !CONTENDERS.includes(c));
  if (bad?.length)
    throw new Error(`--only: unknown contender ${bad.join(", ")} (use ${CONTENDERS.join(", ")})`);
  const wanted = values.figures?.split(",").map((s) => s.trim()) ?? STEPS.map(([id]) => id);
  const started = new Date();
  const loadBefore = loadavg();
  const world = await startBenchWorld({
    bigMiB: values.quick ? 256 : 1024,
    midMiB: values.quick ? 64 : 256,
    only,
    cpuProfileDir: values["cpu-prof"],
    accessRules: values["access-rules"],
    wharfWorkers,
    log,
  });
  const figures: Figure[] = [idleRss(world)];
  try {
    for (const [id, step] of STEPS) {
      if (!wanted.includes(id)) continue;
      log(`figure ${id}`);
      figures.push(...(await step(world, plan, log)));
    }
  } finally {
    await world.stop();
  }
  figures.sort((a, b) => a.id.localeCompare(b.id));
  const contenders = CONTENDERS.filter((c) => world.contenders.some((x) => x.name === c));
  const wallSeconds = (Date.now() - started.getTime()) / 1000;
  console.log(textTable(figures, contenders));
  const summary = runSummary({ quick: plan.quick, started, wallSeconds, loadBefore, wharfWorkers });
  console.log(`\n${summary}`);
  if (!values["no-write"]) {
    const section = `${summary}\n\n${markdownTable(figures, contenders)}`;
    await writeResults(RESULTS, plan.quick, section, wharfWorkers);
    log(`written to ${RESULTS}`);
  }
  if (values.json) {
    await writeFile(values.json, `${JSON.stringify({ contenders, plan, wallSeconds, figures }, null, 2)}\n`);
  }
  const failing = figures.filter((f) => f.holds === false).map((f) => f.id);
  if (failing.length) log(`targets not met: ${failing.join(", ")}`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
