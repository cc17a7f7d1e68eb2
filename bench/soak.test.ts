// `npm run soak` for SOAK_MINUTES (default 2) inside `npm test` (issue 13). It runs in a vitest
// project of its own after every other file, the benchmark included (vitest.config.ts), so its
// load and its measurements share the machine with nothing else. The verdict is asserted piece by
// piece, so a red run says which bound broke; bench/soak.ts prints the table over time.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCommand } from "../test/support/run-command.ts";
import { makeTempDir, type TempDir } from "../test/support/temp-dir.ts";
import { REPO_ROOT } from "../test/support/wharf-process.ts";
import type { Tally } from "./soak-clients.ts";
import type { Bounds, Verdict } from "./soak-sampler.ts";

interface SoakJson {
  minutes: number;
  bounds: Bounds;
  verdict: Verdict;
  tallies: Record<string, Tally>;
}

const MINUTES = Number(process.env.SOAK_MINUTES ?? "2");

describe(`soak, ${MINUTES} min`, () => {
  let temp: TempDir;
  let result: SoakJson;
  let code: number | null;

  beforeAll(
    async () => {
      temp = await makeTempDir("wharf-soak-test-");
      const json = join(temp.path, "soak.json");
      const node = join(REPO_ROOT, "node_modules", ".bin", "node");
      const run = await runCommand(
        [node, "bench/soak.ts", "--minutes", String(MINUTES), "--no-write", "--json", json],
        { cwd: REPO_ROOT, timeoutMs: (MINUTES * 60 + 300) * 1000, allowFailure: true },
      );
      console.log(run.stdout);
      code = run.code;
      result = JSON.parse(await readFile(json, "utf8")) as SoakJson;
    },
    (MINUTES * 60 + 360) * 1000,
  );

  afterAll(async () => {
    await temp?.remove();
  });

  it("no client ever completed a download of wrong bytes", () => {
    const wrong = Object.entries(result.tallies).filter(([, t]) => t.wrong > 0);
    expect(wrong).toEqual([]);
  });

  it("wharf stayed up, and open fds came back to the idle level after the load", () => {
    const v = result.verdict;
    expect(v.reasons.filter((r) => r.includes("exited"))).toEqual([]);
    expect(v.end.fds).toBeLessThanOrEqual(v.idle.fds + result.bounds.fds);
  });

  it("RSS after the settle period stays within the bound over its warm level", () => {
    const v = result.verdict;
    expect(v.end.rssMiB).toBeLessThanOrEqual(v.warm.rssMiB + result.bounds.rssMiB);
  });

  it("every workload succeeded at least once, and the run's verdict and exit code agree", () => {
    for (const [w, t] of Object.entries(result.tallies)) expect(t.ok, w).toBeGreaterThan(0);
    expect(result.verdict.reasons).toEqual([]);
    expect(code).toBe(0);
  });
});
