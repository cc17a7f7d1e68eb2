// The TLS gateway: the local CA, one leaf certificate per registry (its name, its aliases and
// tls.extraNames), and an HTTPS/HTTP2 listener whose SNI picks the certificate and the backend.

import type { Http2SecureServer } from "node:http2";
import { hostname } from "node:os";
import type { Ca } from "../../certs/certificate-authority.ts";
import { loadOrCreateCa } from "../../certs/certificate-authority.ts";
import { LeafCertificates } from "../../certs/leaf-certificates.ts";
import type { Config } from "../config/schema.ts";
import type { RegistryRouter } from "../http/registry-router.ts";
import type { Logger } from "../log.ts";
import { type ConnectionStats, limitConnections, withSendWatchdog } from "./connection-limits.ts";
import { createHttpsListener, type HttpsRequest, type HttpsResponse } from "./https-listener.ts";
import { listenOn } from "./listen.ts";

export async function loadCa(config: Config, log?: Logger): Promise<Ca> {
  return loadOrCreateCa({
    dir: config.dataDir,
    hostname: hostname(),
    certFile: config.tls.caCertFile,
    keyFile: config.tls.caKeyFile,
    log: log?.child({ component: "certs" }),
  });
}

export function certificateGroups(config: Config, router: RegistryRouter): Record<string, string[]> {
  const groups: Record<string, string[]> = {};
  for (const [registry, hosts] of router.hostGroups())
    groups[registry] = [...hosts, ...config.tls.extraNames];
  return groups;
}

export async function startHttps(opts: {
  config: Config;
  ca: Ca;
  router: RegistryRouter;
  log: Logger;
  requestListener: (req: HttpsRequest, res: HttpsResponse) => void;
  connections: ConnectionStats;
}): Promise<{ server: Http2SecureServer; leaves: LeafCertificates; address: string; stop(): void }> {
  const { config } = opts;
  const log = opts.log.child({ component: "tls" });
  const leaves = new LeafCertificates({
    ca: opts.ca,
    dir: config.dataDir,
    groups: certificateGroups(config, opts.router),
    validityMs: config.tls.leafValidity,
    renewBeforeMs: config.tls.renewBefore,
    log,
  });
  await leaves.prepare();
  leaves.start();
  let requestListener = opts.requestListener;
  const server = createHttpsListener({
    certs: leaves,
    requestListener: (req, res) => requestListener(req, res),
    idleTimeoutMs: config.limits.idleTimeout,
    onUnknownServername: (servername) =>
      log.info({ servername: servername.slice(0, 255) }, "TLS handshake refused: unknown server name"),
  });
  const watchdog = limitConnections(server, {
    listener: "https",
    limits: { maxConnections: config.limits.maxConnections, sendTimeoutMs: config.limits.sendTimeout },
    stats: opts.connections,
    log,
  });
  requestListener = withSendWatchdog(watchdog, opts.requestListener);
  const listen = config.listen.https as { host: string; port: number };
  const a = await listenOn(server, listen.host, listen.port, "https");
  const address = `${a.address}:${a.port}`;
  log.info({ address, ca: opts.ca.fingerprint256 }, "TLS gateway listening");
  return { server, leaves, address, stop: () => watchdog.stop() };
}
