// serveUpstreamName: pulls of an entry's source name get the target's current digest. The proxy
// asks on every tag pull, so the answers live in a map in memory and the pull never waits for the
// store. The map is rebuilt when the store's generation number moves: at once after this
// process's own syncs, otherwise at the next poll (every `pollMs`, one indexed SELECT). So a pin,
// rollback or sync made by the CLI or by another replica reaches this one's pulls within `pollMs`
// plus one rebuild; while the store cannot be read, the previous answers stand.
import type { MirrorEntry } from "./mirror-entries.ts";
import type { MirrorStore, TargetDigest } from "./mirror-store-api.ts";

export type Override = TargetDigest;

export class TagOverrides {
  readonly #entries: MirrorEntry[];
  readonly #store: MirrorStore;
  readonly #pollMs: number;
  readonly #onChange: (() => void) | undefined;
  #map = new Map<string, Override>();
  #generation = -1;
  #timer: NodeJS.Timeout | undefined;
  #refreshing: Promise<void> | undefined;

  constructor(opts: { store: MirrorStore; entries: MirrorEntry[]; pollMs?: number; onChange?: () => void }) {
    this.#entries = opts.entries.filter((e) => e.serveUpstreamName);
    this.#store = opts.store;
    this.#pollMs = opts.pollMs ?? 1000;
    this.#onChange = opts.onChange;
  }

  get active(): boolean {
    return this.#entries.length > 0;
  }

  /** The override for a pull of registry/repository:tag, if a mirror entry governs it. */
  lookup(registry: string, repository: string, tag: string): Override | undefined {
    return this.#map.get(`${registry}/${repository}:${tag}`);
  }

  /** Rebuilds the map if the generation moved (or always, with force); one rebuild at a time. */
  async refresh(force = false): Promise<void> {
    while (this.#refreshing) await this.#refreshing;
    this.#refreshing = this.#rebuild(force).finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  async #rebuild(force: boolean): Promise<void> {
    const gen = await this.#store.generation();
    if (!force && gen === this.#generation) return;
    const map = new Map<string, Override>();
    for (const e of this.#entries)
      for (const rec of await this.#store.tags(e.target))
        if (rec.current) map.set(`${e.source.registry}/${e.source.repository}:${rec.tag}`, rec.current);
    this.#map = map;
    this.#generation = gen;
    this.#onChange?.();
  }

  async start(): Promise<void> {
    this.#timer = setInterval(() => {
      // a busy or unreachable store: the previous answers stand until the next poll
      this.refresh().catch(() => {});
    }, this.#pollMs);
    this.#timer.unref();
    await this.refresh(true);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
  }
}
