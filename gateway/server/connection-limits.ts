// Bounds and counts the connections of the registry listeners (limits.maxConnections), and gives
// each one a send watchdog (limits.sendTimeout). Connections past the bound are closed by Node
// right after accept, before any TLS handshake or request parsing (net.Server maxConnections and
// its "drop" event), so a flood costs wharf almost nothing; refusals are logged at most every 10 s.
import type { Server, Socket } from "node:net";
import { attachSendWatchdog, SendWatchdog } from "../http/send-watchdog.ts";
import type { NodeRequest, NodeResponse } from "../http/write-reply.ts";
import type { Logger } from "../log.ts";

export type ListenerName = "https" | "http";

/** Live counts by listener, read by /metrics (admin/metrics.ts registerConnectionMetrics). */
export class ConnectionStats {
  readonly open: Record<ListenerName, number> = { https: 0, http: 0 };
  readonly refused: Record<ListenerName, number> = { https: 0, http: 0 };
  readonly sendTimeouts: Record<ListenerName, number> = { https: 0, http: 0 };
}

export interface ConnectionLimits {
  maxConnections: number;
  sendTimeoutMs: number;
}

const REFUSAL_LOG_INTERVAL_MS = 10_000;

/** Applies the bound and the counters to `server`; returns the watchdog for its responses. */
export function limitConnections(
  server: Server,
  o: { listener: ListenerName; limits: ConnectionLimits; stats: ConnectionStats; log: Logger },
): SendWatchdog {
  const { listener, stats } = o;
  server.maxConnections = o.limits.maxConnections;
  server.on("connection", (socket: Socket) => {
    stats.open[listener]++;
    socket.once("close", () => {
      stats.open[listener]--;
    });
  });
  let lastLog = Number.NEGATIVE_INFINITY;
  let unlogged = 0;
  server.on("drop", (d?: { remoteAddress?: string }) => {
    stats.refused[listener]++;
    unlogged++;
    const now = performance.now();
    if (now - lastLog < REFUSAL_LOG_INTERVAL_MS) return;
    lastLog = now;
    o.log.warn(
      { listener, maxConnections: o.limits.maxConnections, refused: unlogged, remote: d?.remoteAddress },
      "connection refused: limits.maxConnections reached (closed at accept)",
    );
    unlogged = 0;
  });
  return new SendWatchdog({
    timeoutMs: o.limits.sendTimeoutMs,
    onTimeout: (res) => {
      stats.sendTimeouts[listener]++;
      const socket = (res as { stream?: { session?: { socket?: Socket } } }).stream?.session?.socket;
      o.log.info(
        {
          listener,
          remote: (socket ?? res.socket)?.remoteAddress,
          sendTimeoutMs: o.limits.sendTimeoutMs,
        },
        "send timeout: client stopped reading, response torn down",
      );
    },
  });
}

/** Wraps a request listener so every response can find the watchdog (write-reply.ts uses it). */
export function withSendWatchdog(
  watchdog: SendWatchdog,
  listener: (req: NodeRequest, res: NodeResponse) => void,
): (req: NodeRequest, res: NodeResponse) => void {
  return function watchedRequest(req, res) {
    attachSendWatchdog(res, watchdog);
    listener(req, res);
  };
}
