// What the `wharf mirror` commands share: the config's mirror entries, the cache opened in shared
// mode (beside a running server, like `wharf gc`), and for sync the same proxies the server builds
// (upstream client, credentials, upstreamDns), so a sync from the CLI fills the same store.

import { WharfError } from "../../common/errors.ts";
import { VERSION } from "../../common/version.ts";
import { type OpenedCache, openCache } from "../cache/open-cache.ts";
import { RateLimits } from "../cache/rate-limits.ts";
import { type LoadedConfig, loadConfig } from "../config/load-config.ts";
import { silentLogger } from "../log.ts";
import { type MirrorEntry, resolveMirrorEntries } from "../mirror/mirror-entries.ts";
import { ProxyRegistry } from "../registry/proxy-registry.ts";
import { buildBackends } from "../server/build-backends.ts";
import { createUpstreamDispatcher } from "../upstream/dispatcher.ts";
import type { RemoteRegistry } from "../upstream/remote-registry.ts";
import { UpstreamResolver } from "../upstream/upstream-resolver.ts";

export interface MirrorContext {
  loaded: LoadedConfig;
  entries: MirrorEntry[];
  opened: OpenedCache;
}

export async function withMirror<T>(
  configFile: string | undefined,
  opts: { credentials: boolean },
  fn: (ctx: MirrorContext) => Promise<T>,
): Promise<T> {
  const loaded = loadConfig(configFile, process.env, { credentials: opts.credentials });
  const entries = resolveMirrorEntries(loaded.config.mirror, loaded.config).entries;
  if (entries.length === 0) throw new WharfError("CONFIG_INVALID", "mirror: no entries configured");
  const opened = await openCache({
    dataDir: loaded.config.dataDir,
    log: silentLogger,
    fillTimeoutMs: loaded.config.cache.fillTimeout,
    shared: true,
  });
  try {
    return await fn({ loaded, entries, opened });
  } finally {
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
