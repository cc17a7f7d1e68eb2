// The primary's workers (workers: N, docs/workers.md): N slots, each served by one worker
// process at a time. A worker that exits unasked is replaced after a backoff; a rolling restart
// replaces them one by one, the new worker listening before the old one stops accepting, so no
// request is refused on the way.
import cluster, { type Worker } from "node:cluster";
import type { Logger } from "../log.ts";
import { isWorkerMessage, type WorkerMessage } from "./cluster-ipc.ts";
import { WORKER_SLOT_ENV } from "./cluster-worker.ts";

/** How long a worker may take to listen, and to drain once asked to stop. */
const READY_TIMEOUT_MS = 30_000;
const DRAIN_TIMEOUT_MS = 8_000; // within docker stop's 10 s grace (the worker drains for 5 s)
/** Restart backoff: doubles from the first to the last; a worker that ran this long resets it. */
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 30_000;
const BACKOFF_RESET_AFTER_MS = 60_000;

interface Slot {
  index: number;
  worker: Worker | undefined;
  failures: number;
  restart?: NodeJS.Timeout;
}

export interface WorkerPoolEvents {
  message(w: Worker, slot: number, m: WorkerMessage): void;
  /** A worker is gone (asked to or not): its leases and reports end. */
  exited(w: Worker, slot: number): void;
}

export class WorkerPool {
  readonly #slots: Slot[];
  readonly #log: Logger;
  readonly #on: WorkerPoolEvents;
  /** Workers asked to stop: their exit is expected. */
  readonly #leaving = new WeakSet<Worker>();
  #stopping = false;
  #rolling: Promise<void> = Promise.resolve();

  constructor(size: number, log: Logger, on: WorkerPoolEvents) {
    this.#slots = Array.from({ length: size }, (_, index) => ({ index, worker: undefined, failures: 0 }));
    this.#log = log;
    this.#on = on;
  }

  /** The live workers by slot. */
  workers(): { slot: number; worker: Worker }[] {
    return this.#slots.flatMap((s) => (s.worker ? [{ slot: s.index, worker: s.worker }] : []));
  }

  /** Starts every slot's worker; rejects (after stopping the others) when one cannot start. */
  async start(): Promise<Record<string, string>> {
    try {
      const ready = await Promise.all(this.#slots.map((s) => this.#fork(s)));
      return ready[0]?.addresses ?? {};
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  /** Forks a worker for `slot`; resolves once it listens (it then serves the slot). */
  #fork(slot: Slot): Promise<{ worker: Worker; addresses: Record<string, string> }> {
    const w = cluster.fork({ [WORKER_SLOT_ENV]: String(slot.index) });
    const startedAt = Date.now();
    w.on("message", (m: unknown) => {
      if (isWorkerMessage(m)) this.#on.message(w, slot.index, m);
    });
    return new Promise<{ worker: Worker; addresses: Record<string, string> }>((resolve, reject) => {
      let ready = false;
      const timer = setTimeout(() => {
        reject(new Error(`worker ${slot.index} did not listen within ${READY_TIMEOUT_MS / 1000} s`));
        this.#retire(w);
      }, READY_TIMEOUT_MS);
      w.on("message", (m: unknown) => {
        if (!isWorkerMessage(m) || m.t !== "wharf.ready" || ready) return;
        ready = true;
        clearTimeout(timer);
        resolve({ worker: w, addresses: m.addresses });
      });
      w.once("exit", (code, signal) => {
        clearTimeout(timer);
        this.#on.exited(w, slot.index);
        if (slot.worker === w) slot.worker = undefined;
        if (!ready)
          reject(new Error(`worker ${slot.index} exited before listening (code ${code ?? signal})`));
        if (this.#stopping || this.#leaving.has(w)) return;
        if (!ready) return; // the caller sees the rejection
        if (Date.now() - startedAt > BACKOFF_RESET_AFTER_MS) slot.failures = 0;
        const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** slot.failures);
        slot.failures++;
        this.#log.error(
          { worker: slot.index, pid: w.process.pid, code, signal, restartInMs: delay },
          "worker exited unexpectedly; starting another",
        );
        this.#scheduleRestart(slot, delay);
      });
    }).then((r) => {
      slot.worker = r.worker;
      return r;
    });
  }

  #scheduleRestart(slot: Slot, delay: number): void {
    clearTimeout(slot.restart);
    slot.restart = setTimeout(() => {
      if (this.#stopping || slot.worker) return;
      this.#fork(slot).catch((e: Error) => {
        this.#log.error({ worker: slot.index, err: e.message }, "worker did not start");
        this.#scheduleRestart(slot, Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** slot.failures++));
      });
    }, delay);
  }

  /** Asks `w` to stop accepting and finish its requests; kills it after DRAIN_TIMEOUT_MS. */
  #retire(w: Worker): Promise<void> {
    this.#leaving.add(w);
    if (w.isDead()) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => w.process.kill("SIGKILL"), DRAIN_TIMEOUT_MS);
      w.once("exit", () => {
        clearTimeout(timer);
        resolve();
      });
      if (w.isConnected()) w.send({ t: "wharf.stop" });
      else w.process.kill("SIGTERM");
    });
  }

  /** Replaces every worker, one at a time (SIGHUP); calls made meanwhile run after it. */
  rollingRestart(): Promise<void> {
    this.#rolling = this.#rolling.then(async () => {
      this.#log.info({ workers: this.#slots.length }, "rolling restart of the workers");
      for (const slot of this.#slots) {
        if (this.#stopping) return;
        const old = slot.worker;
        try {
          const { worker } = await this.#fork(slot); // listening now, beside the old one
          this.#log.info({ worker: slot.index, pid: worker.process.pid }, "worker replaced");
        } catch (e) {
          this.#log.error(
            { worker: slot.index, err: (e as Error).message },
            "new worker did not start; keeping the old one",
          );
          slot.worker = old;
          return;
        }
        if (old) await this.#retire(old);
      }
    });
    return this.#rolling;
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    for (const s of this.#slots) clearTimeout(s.restart);
    await Promise.all(Object.values(cluster.workers ?? {}).flatMap((w) => (w ? [this.#retire(w)] : [])));
  }
}
