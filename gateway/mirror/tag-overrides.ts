// serveUpstreamName: pulls of an entry's source name get the target's current digest. The proxy
// asks on every tag pull, so the answers live in a map, rebuilt when the mirror's generation
// number changes: at once after this process's own syncs, within `pollMs` after a change made by
// the CLI beside the server (one indexed SELECT per poll).
import type { ContentCache } from "../cache/content-cache.ts";
import { HostedMeta } from "../registry/hosted/hosted-meta.ts";
import type { MirrorEntry } from "./mirror-entries.ts";
import { MirrorState } from "./mirror-state.ts";

export interface Override {
  digest: string;
  mediaType: string;
}

export class TagOverrides {
  readonly #entries: MirrorEntry[];
  readonly #state: MirrorState;
  readonly #meta: HostedMeta;
  readonly #pollMs: number;
  #map = new Map<string, Override>();
  #generation = -1;
  #timer: NodeJS.Timeout | undefined;

  constructor(opts: { cache: ContentCache; entries: MirrorEntry[]; pollMs?: number }) {
    this.#entries = opts.entries.filter((e) => e.serveUpstreamName);
    this.#state = new MirrorState(opts.cache.db);
    this.#meta = new HostedMeta(opts.cache.db);
    this.#pollMs = opts.pollMs ?? 1000;
  }

  get active(): boolean {
    return this.#entries.length > 0;
  }

  /** The override for a pull of registry/repository:tag, if a mirror entry governs it. */
  lookup(registry: string, repository: string, tag: string): Override | undefined {
    return this.#map.get(`${registry}/${repository}:${tag}`);
  }

  /** Rebuilds the map if the generation moved (or always, with force). */
  refresh(force = false): void {
    const gen = this.#state.generation();
    if (!force && gen === this.#generation) return;
    this.#generation = gen;
    const map = new Map<string, Override>();
    for (const e of this.#entries)
      for (const rec of this.#state.tags(e.target)) {
        const t = this.#meta.getTag(e.target.registry, e.target.repository, rec.tag);
        if (t) map.set(`${e.source.registry}/${e.source.repository}:${rec.tag}`, t);
      }
    this.#map = map;
  }

  start(): void {
    if (!this.active) return;
    this.refresh(true);
    this.#timer = setInterval(() => {
      try {
        this.refresh();
      } catch {
        // a busy or full database: the previous answers stand until the next poll
      }
    }, this.#pollMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
  }
}
