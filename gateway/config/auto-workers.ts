// `workers: auto` (docs/workers.md): one worker per core the process may use, at most
// AUTO_WORKERS_MAX, and no more than its memory limit holds. In a container the core count Node
// reports is the host's: the cgroup's CPU quota (cgroup v2 cpu.max) and memory limit
// (process.constrainedMemory) are what the container may actually use.
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";

/** Past this many, the primary's IPC and one SQLite file bound the gain. */
export const AUTO_WORKERS_MAX = 8;

/** What the primary and each worker need resident, with room for a busy worker's peak. */
const PRIMARY_BYTES = 128 * 1024 * 1024;
const WORKER_BYTES = 192 * 1024 * 1024;

/** Cores allowed by a cgroup v2 quota ("max 100000" or "200000 100000"), undefined when none. */
export function quotaCores(cpuMax: string | undefined): number | undefined {
  const [quota, period] = (cpuMax ?? "").trim().split(/\s+/);
  const q = Number(quota);
  const p = Number(period);
  if (!Number.isFinite(q) || !Number.isFinite(p) || q <= 0 || p <= 0) return undefined;
  return Math.max(1, Math.ceil(q / p));
}

export function autoWorkers(
  machine: { cores: number; memoryLimit?: number | undefined; cpuMax?: string | undefined } = readMachine(),
): number {
  let n = Math.min(machine.cores, quotaCores(machine.cpuMax) ?? machine.cores, AUTO_WORKERS_MAX);
  // constrainedMemory is 0, or about 2^64, without a limit
  const limit = machine.memoryLimit;
  if (limit && limit < 2 ** 50) n = Math.min(n, Math.floor((limit - PRIMARY_BYTES) / WORKER_BYTES));
  return Math.max(1, n);
}

function readMachine(): { cores: number; memoryLimit?: number; cpuMax?: string } {
  let cpuMax: string | undefined;
  try {
    cpuMax = readFileSync("/sys/fs/cgroup/cpu.max", "utf8");
  } catch {}
  return { cores: availableParallelism(), memoryLimit: process.constrainedMemory?.(), cpuMax };
}
