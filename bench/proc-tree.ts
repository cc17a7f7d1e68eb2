// Process trees from /proc (proc(5)): resident memory of a server and everything it forked
// (nginx's workers, for example), sampled on a timer to catch the peak.
import { readdirSync, readFileSync } from "node:fs";

const PAGE_SIZE = 4096;

function readProc(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined; // the process exited meanwhile
  }
}

function numericDirs(): number[] {
  return readdirSync("/proc")
    .filter((n) => /^\d+$/.test(n))
    .map(Number);
}

/** Parent PID from /proc/PID/stat; the command name may hold spaces and parentheses. */
function parentOf(pid: number): number | undefined {
  const stat = readProc(`/proc/${pid}/stat`);
  if (!stat) return undefined;
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[1]);
}

/** `roots` and all their descendants that are alive now. */
export function treePids(roots: number[]): number[] {
  const children = new Map<number, number[]>();
  for (const pid of numericDirs()) {
    const parent = parentOf(pid);
    if (parent === undefined) continue;
    const list = children.get(parent) ?? [];
    list.push(pid);
    children.set(parent, list);
  }
  const out: number[] = [];
  const queue = [...roots];
  for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** Resident set size in bytes, summed over `pids` (from /proc/PID/statm, second field). */
export function rssBytes(pids: number[]): number {
  let pages = 0;
  for (const pid of pids) {
    const statm = readProc(`/proc/${pid}/statm`);
    if (statm) pages += Number(statm.split(" ")[1]);
  }
  return pages * PAGE_SIZE;
}

/** Clock ticks per second of /proc/PID/stat times (USER_HZ, 100 on Linux). */
const CLOCK_TICKS = 100;

/** CPU time (user + system, all threads) in seconds, summed over `pids` (proc(5) fields 14, 15). */
export function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const stat = readProc(`/proc/${pid}/stat`);
    if (!stat) continue;
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / CLOCK_TICKS;
}

/** Starts counting the CPU time of the trees under `roots`; the function returned reads the seconds used since. */
export function cpuMeter(roots: () => number[]): () => number {
  const before = cpuSeconds(treePids(roots()));
  return () => cpuSeconds(treePids(roots())) - before;
}

/** PIDs whose command line contains `needle` (docker-registry started by the test harness). */
export function pidsByCommandLine(needle: string): number[] {
  const out: number[] = [];
  for (const pid of numericDirs()) {
    const cmd = readProc(`/proc/${pid}/cmdline`)?.replaceAll("\0", " ");
    if (cmd?.includes(needle) && !cmd.startsWith("setpriv ") && !cmd.startsWith("unshare ")) out.push(pid);
  }
  return out;
}

export interface RssSampler {
  /** Stops sampling; the highest sum seen, in bytes. */
  stop(): number;
}

/**
 * Samples the RSS of the trees under `roots` every `everyMs` (default 50 ms). The tree is
 * re-listed every 20 samples, so workers forked meanwhile are counted.
 */
export function sampleRss(roots: () => number[], everyMs = 50): RssSampler {
  let pids = treePids(roots());
  let peak = rssBytes(pids);
  let n = 0;
  const timer = setInterval(() => {
    if (++n % 20 === 0) pids = treePids(roots());
    peak = Math.max(peak, rssBytes(pids));
  }, everyMs);
  return {
    stop: () => {
      clearInterval(timer);
      peak = Math.max(peak, rssBytes(pids));
      return peak;
    },
  };
}
