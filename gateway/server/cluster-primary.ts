// `wharf serve` with workers: N > 1 (docs/workers.md): this process holds the dataDir lock,
// prepares the store and the TLS certificates, runs DNS, the admin endpoint and the housekeeping
// (evictor, scrubber, mirror, probes), keeps the table of fill leases, and starts the workers
// that serve the HTTPS and plain-HTTP listeners. SIGHUP replaces the workers one by one.
import type { Worker } from "node:cluster";
import { LeafCertificates } from "../../certs/leaf-certificates.ts";
import type { LoadedConfig } from "../config/load-config.ts";
import type { Config } from "../config/schema.ts";
import { RegistryRouter } from "../http/registry-router.ts";
import { createLogger, type Logger } from "../log.ts";
import { FillLeases, FollowedFills, PRIMARY, primaryCoordinator } from "./cluster-fills.ts";
import type { PrimaryMessage, WorkerMessage } from "./cluster-ipc.ts";
import type { PrimaryRole } from "./cluster-role.ts";
import { ClusterStats } from "./cluster-stats.ts";
import { WorkerPool } from "./cluster-workers.ts";
import { certificateGroups, loadCa } from "./start-https.ts";
import { startWharf, type Wharf } from "./start-wharf.ts";

/** A worker that does not say which blobs it streams within this time is not waited for. */
const IN_USE_TIMEOUT_MS = 3_000;

export async function startCluster(loaded: LoadedConfig): Promise<Wharf> {
  const { config } = loaded;
  const log = createLogger({ level: config.logLevel });
  const workers = new Map<number, Worker>();
  const send = (id: number, m: PrimaryMessage) => {
    const w = workers.get(id);
    if (w?.isConnected()) w.send(m);
  };
  const followed = new FollowedFills();
  const leases = new FillLeases((to, digest, p) => {
    if (to === PRIMARY) followed.deliver(digest, p);
    else send(to, { t: "wharf.progress", digest, p });
  });
  const stats = new ClusterStats();
  const inUse = new InUseQueries(send);
  let pool: WorkerPool | undefined;
  const role: PrimaryRole = {
    kind: "primary",
    fills: primaryCoordinator(leases, followed),
    connections: stats.connections,
    async serve(ctx) {
      await prepareLeaves(config, log);
      const onMessage = (w: Worker, slot: number, m: WorkerMessage) => {
        const pid = w.process.pid ?? 0;
        if (!workers.has(w.id)) {
          workers.set(w.id, w);
          stats.started(slot, pid);
        }
        switch (m.t) {
          case "wharf.claim": {
            const answer = leases.claim(w.id, m.digest, m.tempPath);
            if (answer.own)
              log.debug({ digest: m.digest, worker: slot, pid: w.process.pid }, "fill lease granted");
            send(w.id, { t: "wharf.claimed", id: m.id, answer });
            break;
          }
          case "wharf.publish":
            leases.publish(w.id, m.digest, m.p);
            break;
          case "wharf.events":
            stats.record(slot, pid, m);
            for (const e of m.requests) ctx.admin.onRequest(e);
            for (const f of m.fills) ctx.admin.onFill(f);
            if (m.stored > 0) ctx.evictor.noteStored();
            break;
          case "wharf.inUse":
            inUse.answer(m.id, m.digests);
            break;
        }
      };
      pool = new WorkerPool(config.workers, log, {
        message: onMessage,
        exited(w, slot) {
          leases.exited(w.id);
          inUse.exited(w.id);
          stats.exited(slot, w.process.pid ?? 0);
          workers.delete(w.id);
        },
      });
      const live = pool;
      const addresses = await live.start();
      for (const l of ["https", "http"] as const) if (addresses[l]) ctx.addresses[l] = addresses[l];
      const elsewhere = async () => [
        ...(await inUse.ask(live.workers().map(({ worker }) => worker.id))),
        ...leases.filling(),
      ];
      ctx.cache.inUseElsewhere = async () => new Set(await elsewhere());
      const own = ctx.lock.inUse;
      ctx.lock.inUse = async () => [...(own ? await own() : []), ...(await elsewhere())];
      stats.register(ctx.admin.metrics.registry);
      ctx.admin.onWorkers(() => stats.report());
      ctx.admin.app.get("/api/workers", (c) =>
        c.json({ workers: stats.report(), fillsInFlight: leases.size }),
      );
      const onHup = () => void live.rollingRestart();
      process.on("SIGHUP", onHup);
      log.info({ workers: config.workers }, "workers serving");
      return async () => {
        process.off("SIGHUP", onHup);
        await live.stop();
      };
    },
  };
  return startWharf(loaded, { log, role });
}

/**
 * Issues (or loads) every registry's certificate once, before the workers start: they then load
 * the same files instead of each issuing its own at the same moment.
 */
async function prepareLeaves(config: Config, log: Logger): Promise<void> {
  if (!config.listen.https) return;
  const ca = await loadCa(config, log);
  const leaves = new LeafCertificates({
    ca,
    dir: config.dataDir,
    groups: certificateGroups(config, new RegistryRouter(config)),
    validityMs: config.tls.leafValidity,
    renewBeforeMs: config.tls.renewBefore,
    log: log.child({ component: "tls" }),
  });
  await leaves.prepare();
}

/** Asks workers which blobs they stream (the evictor and `wharf cache gc` leave those alone). */
class InUseQueries {
  readonly #send: (id: number, m: PrimaryMessage) => void;
  readonly #pending = new Map<number, { worker: number; resolve(d: string[]): void }>();
  #next = 1;

  constructor(send: (id: number, m: PrimaryMessage) => void) {
    this.#send = send;
  }

  async ask(workers: number[]): Promise<string[]> {
    const answers = await Promise.all(
      workers.map(
        (worker) =>
          new Promise<string[]>((resolve, reject) => {
            const id = this.#next++;
            const timer = setTimeout(() => {
              this.#pending.delete(id);
              reject(new Error(`worker ${worker} did not say which blobs it streams`));
            }, IN_USE_TIMEOUT_MS);
            this.#pending.set(id, {
              worker,
              resolve: (d) => {
                clearTimeout(timer);
                resolve(d);
              },
            });
            this.#send(worker, { t: "wharf.inUse?", id });
          }),
      ),
    );
    return answers.flat();
  }

  answer(id: number, digests: string[]): void {
    const p = this.#pending.get(id);
    this.#pending.delete(id);
    p?.resolve(digests);
  }

  /** A worker that exited streams nothing. */
  exited(worker: number): void {
    for (const [id, p] of this.#pending)
      if (p.worker === worker) {
        this.#pending.delete(id);
        p.resolve([]);
      }
  }
}
