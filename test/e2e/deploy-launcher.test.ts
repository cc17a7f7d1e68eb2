// Issue 17: `node bin/wharf.mjs serve` as supervisors run it. With Node 24 the launcher re-execs
// itself in place (process.execve: same PID, new V8 flags). With an older `node` on PATH (Node 20
// here, from the machine's own packages) there is no execve: the launcher runs the bundled Node 24
// as a child and must pass on signals and end the way the child ended (README "Running wharf").
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../support/ports.ts";
import { runCommand } from "../support/run-command.ts";
import { makeTempDir, type TempDir } from "../support/temp-dir.ts";
import { waitForHttp } from "../support/wait-http.ts";
import { REPO_ROOT } from "../support/wharf-process.ts";

const NODE24 = join(REPO_ROOT, "node_modules", ".bin", "node");
const OLD_NODE = "/usr/bin/node";
const LAUNCHER = join(REPO_ROOT, "bin", "wharf.mjs");

let tmp: TempDir;
let config: string;
let port: number;

beforeAll(async () => {
  tmp = await makeTempDir("wharf-launcher-");
  port = await freePort();
  config = join(tmp.path, "wharf.yml");
  await writeFile(
    config,
    // one process: the launcher's PID story is about wharf's own process (workers: docs/workers.md)
    `dataDir: ${JSON.stringify(join(tmp.path, "data"))}\nupstreamDns: "127.0.0.1:53"\nworkers: 1\n` +
      `listen: {http: "127.0.0.1:${port}", https: null, dns: null, admin: null}\n`,
  );
});
afterAll(() => tmp?.remove());

function serve(node: string) {
  const proc = spawn(node, [LAUNCHER, "serve", "--config", config], { stdio: "ignore" });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    proc.on("exit", (code, signal) => r({ code, signal })),
  );
  return { proc, exited };
}

const childrenOf = (pid: number): number[] => {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8")
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
};

describe("bin/wharf.mjs serve", () => {
  it("with Node 24, re-execs in place: one PID, serving with the launcher's V8 flags", async () => {
    const { proc, exited } = serve(NODE24);
    try {
      await waitForHttp(`http://127.0.0.1:${port}/v2/`, { accept: (s) => s === 200, timeoutMs: 15_000 });
      const cmdline = readFileSync(`/proc/${proc.pid}/cmdline`, "utf8").split("\0");
      expect(cmdline).toContain("--max-semi-space-size=1");
      expect(childrenOf(proc.pid as number)).toEqual([]);
    } finally {
      proc.kill("SIGTERM");
    }
    expect(await exited).toEqual({ code: 0, signal: null });
  });

  it("with Node 20 on PATH, passes signals to Node 24 and ends as it ended", async () => {
    const version = (await runCommand([OLD_NODE, "--version"])).stdout.trim();
    const [major, minor] = version.slice(1).split(".").map(Number) as [number, number];
    // the machine's own node is the old one this case is about; a newer one would not test it
    expect(major < 22 || (major === 22 && minor < 18), `${OLD_NODE} is ${version}`).toBe(true);
    const { proc, exited } = serve(OLD_NODE);
    await waitForHttp(`http://127.0.0.1:${port}/v2/`, { accept: (s) => s === 200, timeoutMs: 15_000 });
    const [child] = childrenOf(proc.pid as number);
    expect(readFileSync(`/proc/${child}/cmdline`, "utf8")).toContain("node_modules/node/bin/node");
    proc.kill("SIGTERM"); // what a supervisor sends to the PID it started
    expect(await exited).toEqual({ code: 0, signal: null }); // wharf's graceful stop, passed through
    expect(() => process.kill(child as number, 0)).toThrow(); // no orphan left serving

    // a child killed by a signal: the launcher dies of the same signal
    const again = serve(OLD_NODE);
    await waitForHttp(`http://127.0.0.1:${port}/v2/`, { accept: (s) => s === 200, timeoutMs: 15_000 });
    const [second] = childrenOf(again.proc.pid as number);
    process.kill(second as number, "SIGKILL");
    expect(await again.exited).toEqual({ code: null, signal: "SIGKILL" });

    // exit codes of one-shot commands come back unchanged
    const direct = await runCommand([NODE24, LAUNCHER, "ca", "show", "--config", "/nonexistent"], {
      allowFailure: true,
    });
    const viaOld = await runCommand([OLD_NODE, LAUNCHER, "ca", "show", "--config", "/nonexistent"], {
      allowFailure: true,
    });
    expect(viaOld.code).toBe(direct.code);
    expect(viaOld.code).not.toBe(0);
  });
});
