// The quick run of bench/workers-bench.ts inside `npm test` (bench project: after the other test
// files, the machine to itself). Asserted: what does not depend on timing. With 2 workers, the
// clients of one uncached layer cost one upstream fetch whichever worker they reach, every client
// gets the right digest, both workers serve, and no manifest request fails. The CPU and RSS
// figures are printed for docs/workers.md, not asserted.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCommand } from "../test/support/run-command.ts";
import { makeTempDir, type TempDir } from "../test/support/temp-dir.ts";
import { REPO_ROOT } from "../test/support/wharf-process.ts";
import type { WorkersRow } from "./workers-bench.ts";

describe("bench workers --quick", () => {
  let temp: TempDir;
  let rows: WorkersRow[];

  beforeAll(async () => {
    temp = await makeTempDir("wharf-bench-workers-test-");
    const json = join(temp.path, "workers.json");
    const node = join(REPO_ROOT, "node_modules", ".bin", "node");
    const run = await runCommand([node, "bench/workers-bench.ts", "--quick", "--json", json], {
      cwd: REPO_ROOT,
      timeoutMs: 600_000,
    });
    console.log(run.stdout);
    rows = JSON.parse(await readFile(json, "utf8")) as WorkersRow[];
  }, 660_000);

  afterAll(async () => {
    await temp?.remove();
  });

  it("one upstream fetch for concurrent clients across workers, every client verified", () => {
    for (const r of rows) {
      expect(r.fillUpstreamGets, `workers ${r.workers}`).toBe(1);
      expect(r.fillBad, `workers ${r.workers}`).toBe(0);
    }
    const two = rows.find((r) => r.workers === 2);
    expect(two).toBeDefined();
    // both workers served (the fill's clients, the warm downloads, h2load's 16 connections)
    expect(two?.perWorker).toHaveLength(2);
    for (const n of two?.perWorker ?? []) expect(n).toBeGreaterThan(0);
  });

  it("no failed manifest request with 1 or 2 workers", () => {
    for (const r of rows) expect(r.manifestFailed, `workers ${r.workers}`).toBe(0);
  });
});
