// Tearing network namespaces down (testbed.md §8): SIGTERM every process inside (ip netns pids),
// SIGKILL what is left, then `ip netns del`. Each topology also leaves an ownership record
// (its namespaces and the creating PID) so a later run can delete namespaces whose creator was
// SIGKILLed before it could clean up: sweepStaleTopologies(), called by the global setup.
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCommand } from "./run-command.ts";

const RECORDS = join(tmpdir(), "wharf-test-netns");

export function listNetns(): string[] {
  const r = spawnSync("ip", ["netns", "list"], { encoding: "utf8" });
  return (r.stdout ?? "")
    .split("\n")
    .map((l) => l.split(" ")[0] ?? "")
    .filter(Boolean);
}

export function netnsPids(ns: string): number[] {
  const r = spawnSync("ip", ["netns", "pids", ns], { encoding: "utf8" });
  return (r.stdout ?? "").split(/\s+/).filter(Boolean).map(Number);
}

function killAll(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {}
  }
}

/** Stops everything in `ns` (SIGTERM, `graceMs`, SIGKILL) and deletes it. */
export async function deleteNetns(ns: string, graceMs = 10_000): Promise<void> {
  if (!listNetns().includes(ns)) return;
  killAll(netnsPids(ns), "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (netnsPids(ns).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  for (let i = 0; i < 20 && netnsPids(ns).length > 0; i++) {
    killAll(netnsPids(ns), "SIGKILL");
    await new Promise((r) => setTimeout(r, 100));
  }
  await runCommand(["ip", "netns", "del", ns]);
}

/** The synchronous variant for exit hooks: no grace period. */
export function deleteNetnsSync(ns: string): void {
  killAll(netnsPids(ns), "SIGKILL");
  spawnSync("ip", ["netns", "del", ns]);
}

export function recordTopology(prefix: string, namespaces: string[]): void {
  mkdirSync(RECORDS, { recursive: true });
  writeFileSync(join(RECORDS, prefix), JSON.stringify({ pid: process.pid, namespaces }));
}

export function forgetTopology(prefix: string): void {
  rmSync(join(RECORDS, prefix), { force: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Deletes the namespaces of topologies whose creating process is gone; returns their names. */
export async function sweepStaleTopologies(): Promise<string[]> {
  let entries: string[];
  try {
    entries = readdirSync(RECORDS);
  } catch {
    return [];
  }
  const swept: string[] = [];
  for (const prefix of entries) {
    try {
      const rec = JSON.parse(readFileSync(join(RECORDS, prefix), "utf8")) as {
        pid: number;
        namespaces: string[];
      };
      if (alive(rec.pid)) continue;
      for (const ns of rec.namespaces) {
        if (!listNetns().includes(ns)) continue;
        await deleteNetns(ns, 2000);
        swept.push(ns);
      }
    } catch {
      // unreadable record: drop it
    }
    forgetTopology(prefix);
  }
  return swept;
}
