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
  pid: number | undefined;
  startedAt: number;
  restarts: number;
  requests: number;
  bytes: number;
  rss: number;
  /** CPU time of the live worker, and of the slot's earlier workers. */
  cpuMicros: number;
  retiredCpuMicros: number;
  connections: ConnectionSnapshot | undefined;
}

type Counts = Record<string, number>;

function add(into: Counts, from: Readonly<Counts>): void {
  for (const [k, n] of Object.entries(from)) into[k] = (into[k] ?? 0) + n;
}

export class ClusterStats {
  readonly #slots = new Map<number, SlotFigures>();
  /** Cumulative counters of workers that are gone, so sums never go down. */
  readonly #retired = { refused: {} as Counts, sendTimeouts: {} as Counts };
  /** Summed over the live workers (and, for counters, the earlier ones): ConnectionStats' shape. */
  readonly connections: ConnectionStats;

  constructor() {
    const sum = (key: keyof ConnectionSnapshot) => {
      const out: Counts = { https: 0, http: 0 };
      if (key !== "open") add(out, this.#retired[key]);
      for (const s of this.#slots.values()) if (s.connections) add(out, s.connections[key]);
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
        rss: 0,
        cpuMicros: 0,
        retiredCpuMicros: 0,
        connections: undefined,
      };
      this.#slots.set(slot, s);
    }
    return s;
  }

  started(slot: number, pid: number | undefined): void {
    const s = this.#slot(slot);
    if (s.pid !== undefined) s.restarts++;
    s.pid = pid;
    s.startedAt = Date.now();
  }

  record(slot: number, m: Events): void {
    const s = this.#slot(slot);
    s.requests += m.requests.length;
    for (const e of m.requests) s.bytes += e.bytes;
    s.rss = m.rss;
    s.cpuMicros = m.cpuMicros;
    s.connections = m.connections;
  }

  /** The slot's worker `pid` is gone: its counters move to the retired totals. */
  exited(slot: number, pid: number | undefined): void {
    const s = this.#slots.get(slot);
    if (!s || s.pid !== pid) return;
    if (s.connections) {
      add(this.#retired.refused, s.connections.refused);
      add(this.#retired.sendTimeouts, s.connections.sendTimeouts);
    }
    s.retiredCpuMicros += s.cpuMicros;
    s.cpuMicros = 0;
    s.rss = 0;
    s.connections = undefined;
  }

  /** GET /api/workers and the status page. */
  report(): WorkerFigures[] {
    return [...this.#slots.values()].map((s) => ({
      worker: s.slot,
      pid: s.pid,
      up: s.connections !== undefined || s.rss > 0,
      startedAt: new Date(s.startedAt).toISOString(),
      restarts: s.restarts,
      requests: s.requests,
      bytesServed: s.bytes,
      connectionsOpen: Object.values(s.connections?.open ?? {}).reduce((a, b) => a + b, 0),
      residentBytes: s.rss,
      cpuSeconds: (s.cpuMicros + s.retiredCpuMicros) / 1e6,
    }));
  }

  register(registry: Registry): void {
    const registers = [registry];
    const slots = () => [...this.#slots.values()];
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
        for (const s of slots())
          this.inc({ worker: String(s.slot) }, (s.cpuMicros + s.retiredCpuMicros) / 1e6);
      },
    });
    new Gauge({
      name: "wharf_worker_resident_memory_bytes",
      help: "Resident memory of each worker process, by worker slot",
      labelNames: ["worker"] as const,
      registers,
      collect() {
        this.reset();
        for (const s of slots()) this.set({ worker: String(s.slot) }, s.rss);
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
