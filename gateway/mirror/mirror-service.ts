// The mirror inside `wharf serve`: tag overrides on the proxies whose names entries govern
// (serveUpstreamName), the scheduler, and the status the admin endpoint shows (panel, metrics).
// The status is a snapshot rebuilt whenever the store's generation moves (the overrides' poll),
// so /metrics and the status page read memory, as the pulls do.
import type { ContentCache } from "../cache/content-cache.ts";
import type { Logger } from "../log.ts";
import { ProxyRegistry } from "../registry/proxy-registry.ts";
import type { Registry } from "../registry/registry.ts";
import { type MirrorEntry, showRepo } from "./mirror-entries.ts";
import { MirrorScheduler } from "./mirror-scheduler.ts";
import type { MirrorStore } from "./mirror-store-api.ts";
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
export async function mirrorStatus(
  store: MirrorStore,
  entries: MirrorEntry[],
  scheduler?: MirrorScheduler,
): Promise<MirrorEntryStatus[]> {
  const out: MirrorEntryStatus[] = [];
  for (const e of entries) {
    const run = await store.run(entryId(e));
    const tags: MirrorTagStatus[] = [];
    for (const t of await store.tags(e.target))
      tags.push({
        tag: t.tag,
        current: t.current?.digest ?? null,
        pinned: t.pinnedDigest,
        upstream: t.upstreamDigest,
        drift: t.upstreamDigest !== null && t.sourceDigest !== null && t.upstreamDigest !== t.sourceDigest,
        syncedAt: iso(t.syncedAt),
        checkedAt: iso(t.checkedAt),
        history: (await store.history(e.target, t.tag)).length,
      });
    out.push({
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
      tags,
    });
  }
  return out;
}

export class MirrorService {
  readonly overrides: TagOverrides;
  readonly scheduler: MirrorScheduler;
  readonly #store: MirrorStore;
  readonly #entries: MirrorEntry[];
  readonly #log: Logger;
  #status: MirrorEntryStatus[] = [];

  constructor(opts: {
    entries: MirrorEntry[];
    cache: ContentCache;
    /** SqliteMirrorStore on one node; PgMirrorStore in a replica set (storage.postgres). */
    store: MirrorStore;
    registries: ReadonlyMap<string, Registry>;
    log: Logger;
    pollMs?: number;
  }) {
    this.#store = opts.store;
    this.#entries = opts.entries;
    const log = opts.log.child({ component: "mirror" });
    this.#log = log;
    this.overrides = new TagOverrides({
      store: opts.store,
      entries: opts.entries,
      ...(opts.pollMs !== undefined && { pollMs: opts.pollMs }),
      onChange: () => {
        void this.#refreshStatus();
      },
    });
    for (const e of opts.entries.filter((x) => x.serveUpstreamName)) {
      const proxy = opts.registries.get(e.source.registry);
      if (proxy instanceof ProxyRegistry)
        proxy.tagOverride = (repository, tag) => this.overrides.lookup(e.source.registry, repository, tag);
    }
    this.scheduler = new MirrorScheduler({
      entries: opts.entries,
      store: opts.store,
      log,
      run: async (entry) => {
        const r = await syncEntry(
          {
            cache: opts.cache,
            store: opts.store,
            log,
            remoteFor: (name) => {
              const reg = opts.registries.get(name);
              if (!(reg instanceof ProxyRegistry)) throw new Error(`${name} is not a proxied registry`);
              return reg.remote;
            },
          },
          entry,
        );
        await this.overrides.refresh().catch(() => {});
        return r;
      },
    });
  }

  async start(): Promise<void> {
    await this.overrides.start().catch((e: Error) => {
      this.#log.warn(
        { err: e.message },
        "mirror store unreachable at start; overrides follow at the next poll",
      );
    });
    await this.#refreshStatus();
    await this.scheduler.start();
  }

  async stop(): Promise<void> {
    this.overrides.stop();
    await this.scheduler.stop();
  }

  /** The last snapshot, with what only this process knows (running, next run) filled in now. */
  status(): MirrorEntryStatus[] {
    return this.#status.map((s) => {
      const e = this.#entries.find((x) => entryId(x) === s.entry);
      return {
        ...s,
        running: this.scheduler.current === s.entry,
        nextRun: iso(e && this.scheduler.nextRun(e)),
      };
    });
  }

  #refreshStatus(): Promise<void> {
    return mirrorStatus(this.#store, this.#entries)
      .then((s) => {
        this.#status = s;
      })
      .catch((e: Error) => this.#log.warn({ err: e.message }, "mirror status not refreshed"));
  }
}
