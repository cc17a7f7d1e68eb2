// Builds one Registry per configured registry: a proxy over the pull-through cache for an
// `upstream:` entry, a hosted registry for a `hosted:` one. They share the cache, the upstream
// dispatcher and one prefetch queue.

import type { Dispatcher } from "undici";
import type { ContentCache } from "../cache/content-cache.ts";
import { PrefetchQueue } from "../cache/prefetch-queue.ts";
import type { RateLimits } from "../cache/rate-limits.ts";
import type { LoadedConfig } from "../config/load-config.ts";
import type { Logger } from "../log.ts";
import { HostedRegistry } from "../registry/hosted/hosted-registry.ts";
import { sharedHosting } from "../registry/hosted/shared-hosting.ts";
import { ProxyRegistry } from "../registry/proxy-registry.ts";
import type { Registry } from "../registry/registry.ts";
import type { SharedMetadata } from "../store/pg/open-postgres.ts";
import { UpstreamClient } from "../upstream/upstream-client.ts";

export function buildBackends(opts: {
  loaded: LoadedConfig;
  cache: ContentCache;
  dispatcher: Dispatcher;
  rateLimits: RateLimits;
  log: Logger;
  userAgent: string;
  /** The replica set's shared metadata (storage.postgres), when configured. */
  shared?: SharedMetadata;
}): Map<string, Registry> {
  const { config, credentials } = opts.loaded;
  const registries = new Map<string, Registry>();
  // one queue for every registry: cache.prefetch bounds wharf's own upstream fetches in total
  const prefetch = new PrefetchQueue(config.cache.prefetch, opts.log);
  for (const [name, reg] of Object.entries(config.registries)) {
    const log = opts.log.child({ registry: name });
    if (reg.hosted) {
      const shared = sharedHosting({
        name,
        config: reg.hosted,
        cache: opts.cache,
        metadata: opts.shared,
        log,
      });
      registries.set(
        name,
        new HostedRegistry({ name, config: reg.hosted, cache: opts.cache, log, ...(shared && { shared }) }),
      );
      continue;
    }
    if (reg.upstream === undefined) throw new Error(`registry ${name} has neither upstream nor hosted`);
    const upstream = new UpstreamClient({
      registry: name,
      upstream: reg.upstream,
      dispatcher: opts.dispatcher,
      credentials: credentials.get(name),
      log,
      userAgent: opts.userAgent,
      onRateLimit: (sample, account) => opts.rateLimits.record(name, account, sample),
    });
    registries.set(
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
        ...(opts.shared && { sharedTags: opts.shared.tags }),
      }),
    );
  }
  return registries;
}
