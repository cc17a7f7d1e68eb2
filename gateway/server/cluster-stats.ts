// Per-worker figures in the primary (workers: N): what each slot's workers reported (requests,
// bytes, open connections, memory, CPU time), the connection counts summed over the workers for
// the admin endpoint's metrics, and the same figures as metrics and as GET /api/workers.
import { Counter, Gauge, type Registry } from "prom-client";
import type { WorkerFigures } from "../admin/status-source.ts";
import type { ConnectionSnapshot, WorkerMessage } from "./cluster-ipc.ts";
import type { ConnectionStats } from "./connection-limits.ts";

type Events = Extract<WorkerMessage, { t: "wharf.events" }>;

interface SlotFigures {
  slot: number;
  /** The worker serving the slot now (the newest one during a rolling restart). */
  pid: number | undefined;
  startedAt: number;
  restarts: number;
  requests: number;
  bytes: number;
  /** CPU time of the slot's workers that are gone. */
  retiredCpuMicros: number;
}

/** What a live worker process reported last. */
interface LiveFigures {
  slot: number;
  rss: number;
  cpuMicros: number;
  connections: ConnectionSnapshot | undefined;
}

type Counts = Record<string, number>;

function add(into: Counts, from: Readonly<Counts>): void {
  for (const [k, n] of Object.entries(from)) into[k] = (into[k] ?? 0) + n;
}

export class ClusterStats {
  readonly #slots = new Map<number, SlotFigures>();
  /** By pid: during a rolling restart a slot has two workers for a while. */
  readonly #live = new Map<number, LiveFigures>();
  /** Cumulative counters of workers that are gone, so sums never go down. */
  readonly #retired = { refused: {} as Counts, sendTimeouts: {} as Counts };
  /** Summed over the live workers (and, for counters, the earlier ones): ConnectionStats' shape. */
  readonly connections: ConnectionStats;

  constructor() {
    const sum = (key: keyof ConnectionSnapshot) => {
      const out: Counts = { https: 0, http: 0 };
      if (key !== "open") add(out, this.#retired[key]);
      for (const w of this.#live.values()) if (w.connections) add(out, w.connections[key]);
      return out;
    };
    this.connections = {
      get open() {
        return sum("open");
      },
      get refused() {
        return sum("refused");
      },
      get sendTimeouts() {
        return sum("sendTimeouts");
      },
    } as ConnectionStats;
  }

  #slot(slot: number): SlotFigures {
    let s = this.#slots.get(slot);
    if (!s) {
      s = {
        slot,
        pid: undefined,
        startedAt: Date.now(),
        restarts: 0,
        requests: 0,
        bytes: 0,
        retiredCpuMicros: 0,
      };
      this.#slots.set(slot, s);
    }
    return s;
  }

  started(slot: number, pid: number): void {
    const s = this.#slot(slot);
    if (s.pid !== undefined) s.restarts++;
    s.pid = pid;
    s.startedAt = Date.now();
    this.#live.set(pid, { slot, rss: 0, cpuMicros: 0, connections: undefined });
  }

  record(slot: number, pid: number, m: Events): void {
    const s = this.#slot(slot);
    s.requests += m.requests.length;
    for (const e of m.requests) s.bytes += e.bytes;
    const w = this.#live.get(pid);
    if (!w) return;
    w.rss = m.rss;
    w.cpuMicros = m.cpuMicros;
    w.connections = m.connections;
  }

  /** Worker `pid` is gone: its counters move to the retired totals. */
  exited(slot: number, pid: number): void {
    const w = this.#live.get(pid);
    if (!w) return;
    this.#live.delete(pid);
    this.#slot(slot).retiredCpuMicros += w.cpuMicros;
    if (w.connections) {
      add(this.#retired.refused, w.connections.refused);
      add(this.#retired.sendTimeouts, w.connections.sendTimeouts);
    }
  }

  #liveOf(slot: number): LiveFigures[] {
    return [...this.#live.values()].filter((w) => w.slot === slot);
  }

  #cpuSeconds(s: SlotFigures): number {
    return (this.#liveOf(s.slot).reduce((a, w) => a + w.cpuMicros, 0) + s.retiredCpuMicros) / 1e6;
  }

  /** GET /api/workers and the status page. */
  report(): WorkerFigures[] {
    return [...this.#slots.values()].map((s) => {
      const live = this.#liveOf(s.slot);
      return {
        worker: s.slot,
        pid: s.pid,
        up: s.pid !== undefined && this.#live.has(s.pid),
        startedAt: new Date(s.startedAt).toISOString(),
        restarts: s.restarts,
        requests: s.requests,
        bytesServed: s.bytes,
        connectionsOpen: live.reduce(
          (a, w) => a + Object.values(w.connections?.open ?? {}).reduce((x, y) => x + y, 0),
          0,
        ),
        residentBytes: live.reduce((a, w) => a + w.rss, 0),
        cpuSeconds: this.#cpuSeconds(s),
      };
    });
  }

  register(registry: Registry): void {
    const registers = [registry];
    const slots = () => [...this.#slots.values()];
    const cpuSeconds = (s: SlotFigures) => this.#cpuSeconds(s);
    const rss = (s: SlotFigures) => this.#liveOf(s.slot).reduce((a, w) => a + w.rss, 0);
    new Counter({
      name: "wharf_worker_requests_total",
      help: "Registry API requests served, by worker slot (workers: N)",
      labelNames: ["worker"] as const,
      registers,
      collect() {
        this.reset();
        for (const s of slots()) this.inc({ worker: String(s.slot) }, s.requests);
      },
    });
    new Counter({
      name: "wharf_worker_cpu_seconds_total",
      help: "User and system CPU time of the workers, by worker slot (restarted workers included)",
      labelNames: ["worker"] as const,
      registers,
      collect() {
        this.reset();
        for (const s of slots()) this.inc({ worker: String(s.slot) }, cpuSeconds(s));
      },
    });
    new Gauge({
      name: "wharf_worker_resident_memory_bytes",
      help: "Resident memory of each worker process, by worker slot",
      labelNames: ["worker"] as const,
      registers,
      collect() {
        this.reset();
        for (const s of slots()) this.set({ worker: String(s.slot) }, rss(s));
      },
    });
    new Counter({
      name: "wharf_worker_restarts_total",
      help: "Workers started again in a slot (after an exit, or by a rolling restart)",
      labelNames: ["worker"] as const,
      registers,
      collect() {
        this.reset();
        for (const s of slots()) this.inc({ worker: String(s.slot) }, s.restarts);
      },
    });
  }
}
