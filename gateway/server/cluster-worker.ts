// One worker of `workers: N` (docs/workers.md): serves the HTTPS and plain-HTTP listeners that
// node:cluster shares with its siblings, claims fills through the primary, and reports its
// requests, fills, connections and resource use to the primary every REPORT_MS.
import cluster from "node:cluster";
import type { LoadedConfig } from "../config/load-config.ts";
import type { RequestEvent } from "../http/registry-app.ts";
import { createLogger } from "../log.ts";
import { type FillEvent, isPrimaryMessage, type WorkerMessage } from "./cluster-ipc.ts";
import type { WorkerRole } from "./cluster-role.ts";
import { ConnectionStats } from "./connection-limits.ts";
import { startWharf } from "./start-wharf.ts";
import { DrainTracker } from "./worker-drain.ts";
import { WorkerFillCoordinator } from "./worker-fills.ts";

/** Events are sent in batches: one IPC message per REPORT_MS, not one per request. */
const REPORT_MS = 250;

/**
 * How long a leaving worker waits for its connections to end (the primary kills it after 8 s):
 * the whole stop fits in the 10 s that `docker stop` grants before SIGKILL.
 */
const DRAIN_MS = 5_000;

/** The slot a worker fills (0..N-1), stable across restarts; the primary sets it. */
export const WORKER_SLOT_ENV = "WHARF_WORKER_SLOT";

export async function runWorker(loaded: LoadedConfig, env: NodeJS.ProcessEnv): Promise<void> {
  const slot = Number(env[WORKER_SLOT_ENV] ?? 0);
  const log = createLogger({ level: loaded.config.logLevel }).child({ worker: slot });
  const send = (m: WorkerMessage) => {
    if (process.connected) process.send?.(m);
  };
  const fills = new WorkerFillCoordinator(send);
  const connections = new ConnectionStats();
  let requests: RequestEvent[] = [];
  let fillEvents: FillEvent[] = [];
  let stored = 0;
  const report = () => {
    send({
      t: "wharf.events",
      requests,
      fills: fillEvents,
      stored,
      connections: {
        open: { ...connections.open },
        refused: { ...connections.refused },
        sendTimeouts: { ...connections.sendTimeouts },
      },
      rss: process.memoryUsage.rss(),
      cpuMicros: cpuMicros(),
    });
    requests = [];
    fillEvents = [];
    stored = 0;
  };
  const timer = setInterval(report, REPORT_MS);
  timer.unref();
  const role: WorkerRole = {
    kind: "worker",
    fills,
    connections,
    onRequest: (e) => requests.push(e),
    onFill: (f) => fillEvents.push(f),
    onStored: (size) => {
      stored += size;
    },
    inUse: () => [],
  };
  // Ctrl-C reaches the whole process group: the primary decides when workers stop
  process.on("SIGINT", () => {});
  // Stop requests are heard from the start: one that arrives while this worker is still starting
  // (a `docker stop` right after `docker run`) ends it as soon as it is up, not after the
  // primary's kill timeout.
  let wharf: Awaited<ReturnType<typeof startWharf>> | undefined;
  const drain = new DrainTracker();
  let stopping = false;
  const stop = async () => {
    if (stopping || !wharf) {
      stopping = true;
      return;
    }
    stopping = true;
    await drain.drain(DRAIN_MS); // stops accepting, lets requests in flight finish
    await wharf.close();
    clearInterval(timer);
    report();
    // the last report must leave before the channel closes
    await new Promise<void>((resolve) => setImmediate(resolve));
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop());
  // the primary is gone (killed): nobody coordinates fills any more
  process.on("disconnect", () => void stop());
  process.on("message", (m: unknown) => {
    if (!isPrimaryMessage(m) || fills.onMessage(m)) return;
    if (m.t === "wharf.stop") void stop();
    else if (m.t === "wharf.inUse?") send({ t: "wharf.inUse", id: m.id, digests: role.inUse() });
  });
  wharf = await startWharf(loaded, { log, role, handleSignals: false });
  for (const s of wharf.servers) drain.track(s);
  if (stopping) {
    stopping = false;
    await stop();
    return;
  }
  send({ t: "wharf.ready", addresses: wharf.addresses });
  log.info({ pid: process.pid, id: cluster.worker?.id }, "worker serving");
}

function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}
