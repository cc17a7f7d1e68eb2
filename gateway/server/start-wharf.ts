// Starts every part of wharf from a loaded configuration and wires them together.
import type { Server } from "node:http";
import { getRequestListener } from "@hono/node-server";
import type { Ca } from "../../certs/certificate-authority.ts";
import { VERSION } from "../../common/version.ts";
import { openAccess } from "../access/open-access.ts";
import { createAdminEndpoint, startAdminServer } from "../admin/admin-endpoint.ts";
import { registerConnectionMetrics } from "../admin/metrics.ts";
import { registerMirrorMetrics } from "../admin/mirror-metrics.ts";
import { createReadiness } from "../admin/readiness.ts";
import { startReplicaServices } from "../admin/replica-services.ts";
import { clientCommandsFor, statusSourceFrom } from "../admin/status-source.ts";
import { Evictor } from "../cache/evictor.ts";
import { openCache } from "../cache/open-cache.ts";
import { RateLimits } from "../cache/rate-limits.ts";
import { Scrubber } from "../cache/scrubber.ts";
import type { LoadedConfig } from "../config/load-config.ts";
import { createRegistryApp } from "../http/registry-app.ts";
import { RegistryRouter } from "../http/registry-router.ts";
import { createLogger, type Logger } from "../log.ts";
import { resolveMirrorEntries } from "../mirror/mirror-entries.ts";
import { MirrorService } from "../mirror/mirror-service.ts";
import { openMirrorStore } from "../mirror/open-mirror-store.ts";
import { ProxyRegistry } from "../registry/proxy-registry.ts";
import { tryCollectLease } from "../store/pg/collect-lease.ts";
import { openPostgres } from "../store/pg/open-postgres.ts";
import { openSharedStore } from "../store/s3/open-shared-store.ts";
import { createUpstreamDispatcher } from "../upstream/dispatcher.ts";
import type { UpstreamClient } from "../upstream/upstream-client.ts";
import { startUpstreamProbes } from "../upstream/upstream-probe.ts";
import { UpstreamResolver } from "../upstream/upstream-resolver.ts";
import { buildBackends } from "./build-backends.ts";
import type { ClusterRole } from "./cluster-role.ts";
import { ConnectionStats } from "./connection-limits.ts";
import { servernameOf } from "./https-listener.ts";
import { startDns } from "./start-dns.ts";
import { startHttp } from "./start-http.ts";
import { loadCa, startHttps } from "./start-https.ts";

export interface Wharf {
  log: Logger;
  addresses: Record<string, string>;
  /** The listening servers (a worker drains its own before it leaves: worker-drain.ts). */
  servers: readonly Server[];
  close(): Promise<void>;
}

export async function startWharf(
  loaded: LoadedConfig,
  /** `role`: one process of several (workers: N, cluster-role.ts); without it, the only one. */
  opts: { log?: Logger; handleSignals?: boolean; role?: ClusterRole } = {},
): Promise<Wharf> {
  const { config } = loaded;
  const log = opts.log ?? createLogger({ level: config.logLevel });
  const worker = opts.role?.kind === "worker" ? opts.role : undefined;
  const primary = opts.role?.kind === "primary" ? opts.role : undefined;
  if (!worker)
    log.info({ version: VERSION, config: loaded.source, dataDir: config.dataDir }, "wharf starting");
  const opened = await openCache({
    dataDir: config.dataDir,
    log,
    fillTimeoutMs: config.cache.fillTimeout,
    minFree: config.cache.minFree,
    sharedStore: await openSharedStore(loaded),
    // a worker's primary holds the lock and prepared the store
    shared: worker !== undefined,
  });
  opened.cache.fillCoordinator = opts.role?.fills;
  if (worker) worker.inUse = () => opened.cache.inUseDigests();
  if (config.storage.kind === "s3")
    log.info(
      {
        endpoint: config.storage.s3?.endpoint,
        bucket: config.storage.s3?.bucket,
        prefix: config.storage.s3?.prefix,
      },
      "blobs in the shared S3 store; dataDir caches hot blobs",
    );
  const closers: (() => Promise<void> | void)[] = [() => opened.close()];
  const servers: Server[] = [];
  const addresses: Record<string, string> = {};
  // leaves the replica directory first on close, so other replicas stop sending clients here
  let withdraw: () => Promise<void> = async () => {};
  try {
    const shared = loaded.metadataUrl ? await openPostgres(loaded.metadataUrl, log) : undefined;
    if (shared) closers.push(() => shared.close());
    else if (config.storage.kind === "s3")
      log.warn(
        "storage.postgres is not set: tags, hosted registries and mirror state stay on this replica (docs/storage.md)",
      );
    const resolver = new UpstreamResolver(config.upstreamDns);
    const dispatcher = createUpstreamDispatcher(config, resolver);
    closers.push(() => dispatcher.close());
    const evictor = new Evictor({
      cache: opened.cache,
      maxSize: config.cache.maxSize,
      minFree: config.cache.minFree,
      dataDir: config.dataDir,
      log,
      intervalMs: config.cache.evictInterval,
      ...(shared && { lease: () => tryCollectLease(shared.pool) }),
    });
    opened.cache.onStored = worker ? worker.onStored : () => evictor.noteStored();
    if (!worker) evictor.start();
    closers.push(() => evictor.stop());
    if (config.cache.scrubInterval !== null && !worker) {
      const scrubber = new Scrubber({
        cache: opened.cache,
        log,
        intervalMs: config.cache.scrubInterval,
        bytesPerSecond: config.cache.scrubRate,
      });
      scrubber.start();
      closers.push(() => scrubber.stop());
    }
    const rateLimits = new RateLimits();
    const backends = buildBackends({
      loaded,
      cache: opened.cache,
      dispatcher,
      rateLimits,
      log,
      userAgent: `wharf/${VERSION}`,
      ...(shared && { shared }),
    });
    const mirrorEntries = resolveMirrorEntries(config.mirror, config).entries;
    const mirror =
      mirrorEntries.length > 0 && !worker
        ? new MirrorService({
            entries: mirrorEntries,
            cache: opened.cache,
            store: openMirrorStore(opened.cache, shared),
            registries: backends,
            log,
          })
        : undefined;
    const router = new RegistryRouter(config);
    // a full or read-only disk does not stop the start: wharf serves what it has and refuses fills
    // (503) until the store takes writes again; the probe logs why and /readyz reports it
    const storeHealth = opened.cache.health;
    await storeHealth.probe();
    storeHealth.start();
    closers.push(() => storeHealth.stop());
    // one row per replica in the directory, not per worker: the primary (or the only process) owns it
    const replica = await startReplicaServices({
      config,
      shared: worker ? undefined : shared,
      bucket: worker ? undefined : opened.cache.shared,
      store: storeHealth,
      log,
    });
    closers.push(() => replica.stop());
    withdraw = () => replica.stop();
    let ca: Ca | undefined;
    const admin = createAdminEndpoint({
      source: statusSourceFrom({
        config,
        cache: opened.cache,
        backends,
        rateLimits,
        version: VERSION,
        ca: () => ca,
        addresses,
        clientCommands: clientCommandsFor(loaded.source),
        ...(mirror && { mirror: () => mirror.status() }),
        ...(replica.replicas && { replicas: replica.replicas }),
        ...(replica.sharedStore && { sharedStore: replica.sharedStore }),
      }),
      readiness: createReadiness({
        store: storeHealth,
        ca: config.listen.https ? () => ca : undefined,
        listeners: (["https", "dns", "http", "admin"] as const).filter((l) => config.listen[l]),
        addresses,
        ...(replica.sharedStore && { shared: replica.sharedStore }),
      }),
      token: loaded.adminToken?.reveal() ?? null,
      defaultMetrics: !worker,
    });
    const connections = opts.role?.connections ?? new ConnectionStats();
    registerConnectionMetrics(admin.metrics.registry, connections);
    if (mirror) {
      registerMirrorMetrics(admin.metrics.registry, () => mirror.status());
      await mirror.start();
      closers.push(() => mirror.stop());
    }
    evictor.onEvict = admin.onEviction;
    opened.cache.onFill = worker?.onFill ?? admin.onFill;
    const upstreams = new Map<string, UpstreamClient>();
    for (const [name, b] of backends) if (b instanceof ProxyRegistry) upstreams.set(name, b.upstream);
    const probes = startUpstreamProbes({
      upstreams: [...upstreams]
        .filter(([n]) => !(worker || config.offline || config.registries[n]?.offline))
        .map(([, u]) => u),
      intervalMs: config.upstreamProbeInterval,
      timeoutMs: config.upstreamTimeouts.headers,
      log,
    });
    closers.push(() => probes.stop());
    const authenticator = await openAccess({
      config,
      log,
      db: opened.cache.db,
      shared,
      upstreams,
      route: (scope, service, ns) => {
        try {
          return router.route({ name: scope.repository, host: service, ...(ns && { ns }) });
        } catch {
          return undefined;
        }
      },
    });
    if (authenticator) admin.onAccess(authenticator.audit);
    if (authenticator) closers.push(() => authenticator.close());
    const app = createRegistryApp({
      router,
      registries: backends,
      authenticator,
      linkedIn: (digest) => opened.cache.db.linkedRepositories(digest, 100),
      log,
      servernameOf,
      onRequest: worker?.onRequest ?? admin.onRequest,
    });
    const listener = getRequestListener(app.fetch);
    ca = await loadCa(config, log);
    if (config.listen.https && !primary) {
      const https = await startHttps({ config, ca, router, log, requestListener: listener, connections });
      servers.push(https.server as unknown as Server);
      closers.push(
        () => https.leaves.stop(),
        () => https.stop(),
      );
      addresses.https = https.address;
    }
    // workers: N — the workers listen (HTTPS, HTTP) before DNS sends clients here and before the
    // admin endpoint's health check passes (a container counts as healthy from then on)
    if (primary)
      closers.push(
        await primary.serve({ admin, evictor, cache: opened.cache, lock: opened.lock, addresses }),
      );
    if (config.listen.dns && !worker) {
      const dns = await startDns({
        config,
        log,
        healthy: () => storeHealth.writable,
        onQuery: admin.onDnsQuery,
        ...(replica.answers && { answers: replica.answers }),
      });
      closers.push(() => dns.responder.close());
      addresses.dns = `${config.listen.dns.host}:${dns.responder.udpPort}`;
    }
    if (config.listen.admin && !worker) {
      const { server, address } = await startAdminServer({ ...config.listen.admin, app: admin.app });
      servers.push(server);
      addresses.admin = `${address.address}:${address.port}`;
      log.info(
        { address: addresses.admin, bearerAuth: loaded.adminToken !== null },
        "admin endpoint listening",
      );
    }
    // The plain-HTTP endpoint opens last: clients (and health probes) that see it answer can rely
    // on every other listener being up.
    if (config.listen.http && !primary) {
      const http = await startHttp({ config, log, requestListener: listener, connections });
      servers.push(http.server);
      closers.push(() => http.stop());
      addresses.http = http.address;
    }
    // in the replica directory (and other replicas' DNS answers) only once every listener is up
    await replica.announce();
  } catch (e) {
    for (const s of servers) s.close();
    for (const c of closers.reverse()) await c();
    throw e;
  }
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      log.info("wharf stopping");
      await withdraw();
      await Promise.all(
        servers.map(
          (s) =>
            new Promise<void>((resolve) => {
              s.close(() => resolve());
              s.closeIdleConnections?.();
              setTimeout(() => {
                s.closeAllConnections?.();
                resolve();
              }, 5_000).unref();
            }),
        ),
      );
      for (const c of closers.reverse()) await c();
      log.flush?.();
    })();
    return closing;
  };
  if (opts.handleSignals !== false) {
    for (const sig of ["SIGINT", "SIGTERM"] as const)
      process.once(sig, () => void close().then(() => process.exit(0)));
  }
  if (!worker) log.info({ addresses }, "wharf ready");
  return { log, addresses, servers, close };
}
