// What the soak watches in wharf over time, from /proc (proc(5)): resident memory and open file
// descriptors (and how many of them are sockets) of the process tree, next to the clients' running
// counts. The verdict compares the end (after a settle period without load) with the start.
import { readdirSync, readlinkSync } from "node:fs";
import { rssBytes, treePids } from "./proc-tree.ts";
import type { Tallies } from "./soak-clients.ts";

export interface Sample {
  /** Seconds since the soak started. */
  t: number;
  rssMiB: number;
  fds: number;
  sockets: number;
  ok: number;
  errors: number;
  wrong: number;
}

export function fdCounts(pids: number[]): { fds: number; sockets: number } {
  let fds = 0;
  let sockets = 0;
  for (const pid of pids) {
    let names: string[] = [];
    try {
      names = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // exited meanwhile
    }
    for (const n of names) {
      fds++;
      try {
        if (readlinkSync(`/proc/${pid}/fd/${n}`).startsWith("socket:")) sockets++;
      } catch {}
    }
  }
  return { fds, sockets };
}

export class SoakSampler {
  readonly samples: Sample[] = [];
  readonly #root: number;
  readonly #tallies: Tallies;
  readonly #t0 = performance.now();
  #timer: NodeJS.Timeout | undefined;

  constructor(rootPid: number, tallies: Tallies) {
    this.#root = rootPid;
    this.#tallies = tallies;
  }

  take(): Sample {
    const pids = treePids([this.#root]);
    const { fds, sockets } = fdCounts(pids);
    const s: Sample = {
      t: Math.round((performance.now() - this.#t0) / 1000),
      rssMiB: Math.round((rssBytes(pids) / 1024 / 1024) * 10) / 10,
      fds,
      sockets,
      ...this.#tallies.total(),
    };
    this.samples.push(s);
    return s;
  }

  start(everyMs: number): void {
    this.#timer = setInterval(() => this.take(), everyMs);
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

export interface Bounds {
  /** MiB that RSS may end above its level after the warm-up. */
  rssMiB: number;
  /** File descriptors that may stay open above the idle level before the load. */
  fds: number;
}

export interface Verdict {
  pass: boolean;
  reasons: string[];
  idle: Sample;
  warm: Sample;
  end: Sample;
  peakRssMiB: number;
  peakFds: number;
}

/** idle: before any load; warm: after the warm-up, under load; end: after the settle period. */
export function judge(
  samples: { idle: Sample; warm: Sample; end: Sample; all: Sample[] },
  tallies: Tallies,
  bounds: Bounds,
  alive: boolean,
): Verdict {
  const reasons: string[] = [];
  const { idle, warm, end } = samples;
  const total = tallies.total();
  if (total.wrong > 0) reasons.push(`${total.wrong} download(s) delivered wrong bytes as a success`);
  if (!alive) reasons.push("wharf exited during the soak");
  if (end.rssMiB > warm.rssMiB + bounds.rssMiB)
    reasons.push(`RSS grew from ${warm.rssMiB} MiB (warm) to ${end.rssMiB} MiB (bound +${bounds.rssMiB})`);
  if (end.fds > idle.fds + bounds.fds)
    reasons.push(`open fds grew from ${idle.fds} (idle) to ${end.fds} after settling (bound +${bounds.fds})`);
  for (const [w, t] of Object.entries(tallies.by))
    if (t.ok === 0)
      reasons.push(`workload ${w} never succeeded (${t.errors} errors): the soak proved nothing`);
  return {
    pass: reasons.length === 0,
    reasons,
    idle,
    warm,
    end,
    peakRssMiB: Math.max(...samples.all.map((s) => s.rssMiB)),
    peakFds: Math.max(...samples.all.map((s) => s.fds)),
  };
}
