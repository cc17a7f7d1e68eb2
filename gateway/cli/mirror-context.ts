// What the `wharf mirror` commands share: the config's mirror entries, the cache opened in shared
// mode (beside a running server, like `wharf gc`), the mirror store the server uses (PostgreSQL
// with storage.postgres, so any replica's host sees and changes the same history and pins), and
// for sync the same proxies the server builds (upstream client, credentials, upstreamDns) and the
// same bucket (storage.s3), so a sync from the CLI fills the store every replica reads.

import { WharfError } from "../../common/errors.ts";
import { VERSION } from "../../common/version.ts";
import { type OpenedCache, openCache } from "../cache/open-cache.ts";
import { RateLimits } from "../cache/rate-limits.ts";
import { type LoadedConfig, loadConfig } from "../config/load-config.ts";
import { silentLogger } from "../log.ts";
import { type MirrorEntry, resolveMirrorEntries } from "../mirror/mirror-entries.ts";
import type { MirrorStore } from "../mirror/mirror-store-api.ts";
import { openMirrorStore } from "../mirror/open-mirror-store.ts";
import { ProxyRegistry } from "../registry/proxy-registry.ts";
import { buildBackends } from "../server/build-backends.ts";
import { openPostgres, type SharedMetadata } from "../store/pg/open-postgres.ts";
import { openSharedStore } from "../store/s3/open-shared-store.ts";
import { createUpstreamDispatcher } from "../upstream/dispatcher.ts";
import type { RemoteRegistry } from "../upstream/remote-registry.ts";
import { UpstreamResolver } from "../upstream/upstream-resolver.ts";

export interface MirrorContext {
  loaded: LoadedConfig;
  entries: MirrorEntry[];
  opened: OpenedCache;
  store: MirrorStore;
}

export async function withMirror<T>(
  configFile: string | undefined,
  opts: { credentials: boolean },
  fn: (ctx: MirrorContext) => Promise<T>,
): Promise<T> {
  // the storage keys are needed by every command: the mirror's state may live in PostgreSQL
  const loaded = loadConfig(configFile, process.env, {
    credentials: opts.credentials,
    storageCredentials: true,
  });
  const entries = resolveMirrorEntries(loaded.config.mirror, loaded.config).entries;
  if (entries.length === 0) throw new WharfError("CONFIG_INVALID", "mirror: no entries configured");
  const opened = await openCache({
    dataDir: loaded.config.dataDir,
    log: silentLogger,
    fillTimeoutMs: loaded.config.cache.fillTimeout,
    shared: true,
    sharedStore: await openSharedStore(loaded),
  });
  let pg: SharedMetadata | undefined;
  try {
    pg = loaded.metadataUrl ? await openPostgres(loaded.metadataUrl, silentLogger, { max: 4 }) : undefined;
    return await fn({ loaded, entries, opened, store: openMirrorStore(opened.cache, pg) });
  } finally {
    await pg?.close();
    opened.close();
  }
}

/** The source registries' upstream clients, as the server builds them; close() when done. */
export function sourceRemotes(ctx: MirrorContext): {
  remoteFor: (r: string) => RemoteRegistry;
  close: () => Promise<void>;
} {
  const { config } = ctx.loaded;
  const dispatcher = createUpstreamDispatcher(config, new UpstreamResolver(config.upstreamDns));
  const backends = buildBackends({
    loaded: ctx.loaded,
    cache: ctx.opened.cache,
    dispatcher,
    rateLimits: new RateLimits(),
    log: silentLogger,
    userAgent: `wharf/${VERSION} (mirror)`,
  });
  return {
    remoteFor: (name) => {
      const reg = backends.get(name);
      if (!(reg instanceof ProxyRegistry))
        throw new WharfError("CONFIG_INVALID", `${name} is not a proxied registry`);
      return reg.remote;
    },
    close: () => dispatcher.close(),
  };
}
