// The plain-HTTP registry endpoint (listen.http): registry-mirrors, containerd hosts.toml mirrors
// and path prefixes. Same connection bound, send and idle timeouts as the TLS gateway.
import { createServer, type Server } from "node:http";
import { listenOn } from "../../common/listen.ts";
import type { Config } from "../config/schema.ts";
import type { NodeRequest, NodeResponse } from "../http/write-reply.ts";
import type { Logger } from "../log.ts";
import { type ConnectionStats, limitConnections, withSendWatchdog } from "./connection-limits.ts";
import { applyIdleTimeout } from "./idle-timeout.ts";

export async function startHttp(opts: {
  config: Config;
  log: Logger;
  requestListener: (req: NodeRequest, res: NodeResponse) => void;
  connections: ConnectionStats;
}): Promise<{ server: Server; address: string; stop(): void }> {
  const { config } = opts;
  const server = createServer({
    requestTimeout: 0,
    headersTimeout: 30_000,
    maxHeaderSize: 16 * 1024,
  });
  applyIdleTimeout(server, config.limits.idleTimeout);
  const watchdog = limitConnections(server, {
    listener: "http",
    limits: { maxConnections: config.limits.maxConnections, sendTimeoutMs: config.limits.sendTimeout },
    stats: opts.connections,
    log: opts.log.child({ component: "http" }),
  });
  server.on("request", withSendWatchdog(watchdog, opts.requestListener));
  const listen = config.listen.http as { host: string; port: number };
  const a = await listenOn(server, listen.host, listen.port, "http");
  const address = `${a.address}:${a.port}`;
  opts.log.info({ address }, "HTTP mirror endpoint listening");
  return { server, address, stop: () => watchdog.stop() };
}
