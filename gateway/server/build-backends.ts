// Builds one ProxyRegistry per configured registry, sharing the cache, dispatcher and resolver.

import type { Dispatcher } from "undici";
import type { ContentCache } from "../cache/content-cache.ts";
import { PrefetchQueue } from "../cache/prefetch-queue.ts";
import type { RateLimits } from "../cache/rate-limits.ts";
import type { LoadedConfig } from "../config/load-config.ts";
import type { Logger } from "../log.ts";
import { ProxyRegistry } from "../registry/proxy-registry.ts";
import { UpstreamClient } from "../upstream/upstream-client.ts";

export function buildBackends(opts: {
  loaded: LoadedConfig;
  cache: ContentCache;
  dispatcher: Dispatcher;
  rateLimits: RateLimits;
  log: Logger;
  userAgent: string;
}): Map<string, ProxyRegistry> {
  const { config, credentials } = opts.loaded;
  const backends = new Map<string, ProxyRegistry>();
  // one queue for every registry: cache.prefetch bounds wharf's own upstream fetches in total
  const prefetch = new PrefetchQueue(config.cache.prefetch, opts.log);
  for (const [name, reg] of Object.entries(config.registries)) {
    const log = opts.log.child({ registry: name });
    const upstream = new UpstreamClient({
      registry: name,
      upstream: reg.upstream,
      dispatcher: opts.dispatcher,
      credentials: credentials.get(name),
      log,
      userAgent: opts.userAgent,
      onRateLimit: (sample, account) => opts.rateLimits.record(name, account, sample),
    });
    backends.set(
      name,
      new ProxyRegistry({
        name,
        config: reg,
        globalOffline: config.offline,
        rateLimitReserve: config.rateLimitReserve,
        cache: opts.cache,
        upstream,
        rateLimits: opts.rateLimits,
        log,
        prefetch,
      }),
    );
  }
  return backends;
}
