// The TLS gateway: the local CA, one leaf certificate per registry (its name, its aliases and
// tls.extraNames), and an HTTPS/HTTP2 listener whose SNI picks the certificate and the backend.

import type { Http2SecureServer } from "node:http2";
import { isIP } from "node:net";
import { hostname } from "node:os";
import type { Ca } from "../../certs/certificate-authority.ts";
import { loadOrCreateCa } from "../../certs/certificate-authority.ts";
import { certName, LeafCertificates } from "../../certs/leaf-certificates.ts";
import { listenOn } from "../../common/listen.ts";
import type { Config } from "../config/schema.ts";
import type { RegistryRouter } from "../http/registry-router.ts";
import type { Logger } from "../log.ts";
import { type ConnectionStats, limitConnections, withSendWatchdog } from "./connection-limits.ts";
import { createHttpsListener, type HttpsRequest, type HttpsResponse } from "./https-listener.ts";

export async function loadCa(config: Config, log?: Logger): Promise<Ca> {
  return loadOrCreateCa({
    dir: config.dataDir,
    hostname: hostname(),
    certFile: config.tls.caCertFile,
    keyFile: config.tls.caKeyFile,
    log: log?.child({ component: "certs" }),
  });
}

/**
 * The certificate group of wharf's own names (tls.extraNames): a certificate of their own, since
 * one name cannot be in several registries' certificates. Requests under these names name no
 * registry, so the router sends them to defaultRegistry (the Docker Hub mirror of registry-mirrors).
 */
export const OWN_NAMES_GROUP = "wharf-own-names";

export function certificateGroups(config: Config, router: RegistryRouter): Record<string, string[]> {
  const groups: Record<string, string[]> = {};
  const taken = new Set<string>();
  for (const [registry, hosts] of router.hostGroups()) {
    groups[registry] = hosts;
    for (const h of hosts) taken.add(certName(h));
  }
  // a registry name or alias listed here too is already covered by its registry's certificate
  const own = config.tls.extraNames.filter((n) => !taken.has(certName(n)));
  if (own.length > 0) groups[OWN_NAMES_GROUP] = own;
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
  // Clients connecting to an IP address send no SNI (RFC 6066 section 3): when wharf's own names
  // include an address, such handshakes get the own-names certificate, kept current on renewal.
  const groups = certificateGroups(config, opts.router);
  const ownIp = (groups[OWN_NAMES_GROUP] ?? []).some((n) => isIP(certName(n)) !== 0);
  let server: Http2SecureServer | undefined;
  let ownPem: { certPem: string; keyPem: string } | undefined;
  const setDefault = () => {
    if (server && ownPem)
      server.setSecureContext({ cert: ownPem.certPem, key: ownPem.keyPem, minVersion: "TLSv1.2" });
  };
  const leaves = new LeafCertificates({
    onInstall: (group, pem) => {
      if (!ownIp || group !== OWN_NAMES_GROUP) return;
      ownPem = pem;
      setDefault();
    },
    ca: opts.ca,
    dir: config.dataDir,
    groups,
    validityMs: config.tls.leafValidity,
    renewBeforeMs: config.tls.renewBefore,
    log,
  });
  await leaves.prepare();
  leaves.start();
  let requestListener = opts.requestListener;
  server = createHttpsListener({
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
  setDefault();
  const listen = config.listen.https as { host: string; port: number };
  const a = await listenOn(server, listen.host, listen.port, "https");
  const address = `${a.address}:${a.port}`;
  log.info({ address, ca: opts.ca.fingerprint256 }, "TLS gateway listening");
  return { server, leaves, address, stop: () => watchdog.stop() };
}
