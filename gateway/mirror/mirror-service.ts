// The mirror inside `wharf serve`: tag overrides on the proxies whose names entries govern
// (serveUpstreamName), the scheduler, and the status the admin endpoint shows (panel, metrics).
import type { ContentCache } from "../cache/content-cache.ts";
import type { Logger } from "../log.ts";
import { HostedMeta } from "../registry/hosted/hosted-meta.ts";
import { ProxyRegistry } from "../registry/proxy-registry.ts";
import type { Registry } from "../registry/registry.ts";
import { type MirrorEntry, showRepo } from "./mirror-entries.ts";
import { MirrorScheduler } from "./mirror-scheduler.ts";
import { MirrorState } from "./mirror-state.ts";
import { entryId, syncEntry } from "./sync-runner.ts";
import { TagOverrides } from "./tag-overrides.ts";

export interface MirrorTagStatus {
  tag: string;
  current: string | null;
  pinned: string | null;
  upstream: string | null;
  /** Upstream points elsewhere than what was copied (a pinned or rolled-back tag). */
  drift: boolean;
  syncedAt: string | null;
  checkedAt: string | null;
  history: number;
}

export interface MirrorEntryStatus {
  entry: string;
  source: string;
  target: string;
  schedule: string | null;
  serveUpstreamName: boolean;
  running: boolean;
  lastStart: string | null;
  lastSuccess: string | null;
  lastSuccessMs: number | null;
  lastError: string | null;
  nextRun: string | null;
  changesTotal: number;
  failuresTotal: number;
  tags: MirrorTagStatus[];
}

const iso = (ms: number | null | undefined) =>
  ms === null || ms === undefined ? null : new Date(ms).toISOString();

/** Every entry's state as stored (the CLI's `ls` and the server's panel read the same). */
export function mirrorStatus(
  cache: ContentCache,
  entries: MirrorEntry[],
  scheduler?: MirrorScheduler,
): MirrorEntryStatus[] {
  const state = new MirrorState(cache.db);
  const meta = new HostedMeta(cache.db);
  return entries.map((e) => {
    const run = state.run(entryId(e));
    return {
      entry: entryId(e),
      source: showRepo(e.source),
      target: showRepo(e.target),
      schedule: e.schedule?.text ?? null,
      serveUpstreamName: e.serveUpstreamName,
      running: scheduler?.current === entryId(e),
      lastStart: iso(run?.lastStart),
      lastSuccess: iso(run?.lastSuccess),
      lastSuccessMs: run?.lastSuccess ?? null,
      lastError: run?.lastError ?? null,
      nextRun: iso(scheduler?.nextRun(e)),
      changesTotal: run?.changesTotal ?? 0,
      failuresTotal: run?.failuresTotal ?? 0,
      tags: state.tags(e.target).map((t) => ({
        tag: t.tag,
        current: meta.getTag(e.target.registry, e.target.repository, t.tag)?.digest ?? null,
        pinned: t.pinnedDigest,
        upstream: t.upstreamDigest,
        drift: t.upstreamDigest !== null && t.sourceDigest !== null && t.upstreamDigest !== t.sourceDigest,
        syncedAt: iso(t.syncedAt),
        checkedAt: iso(t.checkedAt),
        history: state.history(e.target, t.tag).length,
      })),
    };
  });
}

export class MirrorService {
  readonly overrides: TagOverrides;
  readonly scheduler: MirrorScheduler;
  readonly #cache: ContentCache;
  readonly #entries: MirrorEntry[];

  constructor(opts: {
    entries: MirrorEntry[];
    cache: ContentCache;
    registries: ReadonlyMap<string, Registry>;
    log: Logger;
    pollMs?: number;
  }) {
    this.#cache = opts.cache;
    this.#entries = opts.entries;
    const log = opts.log.child({ component: "mirror" });
    this.overrides = new TagOverrides({ cache: opts.cache, entries: opts.entries, pollMs: opts.pollMs });
    for (const e of opts.entries.filter((x) => x.serveUpstreamName)) {
      const proxy = opts.registries.get(e.source.registry);
      if (proxy instanceof ProxyRegistry)
        proxy.tagOverride = (repository, tag) => this.overrides.lookup(e.source.registry, repository, tag);
    }
    this.scheduler = new MirrorScheduler({
      entries: opts.entries,
      state: new MirrorState(opts.cache.db),
      log,
      run: async (entry) => {
        const r = await syncEntry(
          {
            cache: opts.cache,
            log,
            remoteFor: (name) => {
              const reg = opts.registries.get(name);
              if (!(reg instanceof ProxyRegistry)) throw new Error(`${name} is not a proxied registry`);
              return reg.remote;
            },
          },
          entry,
        );
        this.overrides.refresh();
        return r;
      },
    });
  }

  start(): void {
    this.overrides.start();
    this.scheduler.start();
  }

  async stop(): Promise<void> {
    this.overrides.stop();
    await this.scheduler.stop();
  }

  status(): MirrorEntryStatus[] {
    return mirrorStatus(this.#cache, this.#entries, this.scheduler);
  }
}
