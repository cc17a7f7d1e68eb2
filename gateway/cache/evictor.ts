// Keeps the cache inside cache.maxSize and leaves cache.minFree on the disk, evicting whole blobs
// by least recent access (a hit refreshes it). Blobs being filled or streamed are never removed.
// Runs in the background: after stores that cross the budget, and on an interval. A disk filled
// by something else than the cache is not "fixed" by throwing the whole cache away: when the
// shortfall is bigger than everything evictable, wharf keeps its content and stays read-only.
import { formatBytes } from "../config/units.ts";
import type { Logger } from "../log.ts";
import type { ContentCache } from "./content-cache.ts";
import { freeBytes } from "./store-errors.ts";

export interface EvictionResult {
  evicted: number;
  bytes: number;
  skippedInUse: number;
  /** Skipped: another replica holds the collection lease (retried on the next pass). */
  leaseBusy?: boolean;
}

/** The collection lease of a replica set (store/pg/collect-lease.ts): undefined when held elsewhere. */
export type TakeLease = () => Promise<{ release(): Promise<void> } | undefined>;

/** Evict down to this share of maxSize, so that eviction doesn't run on every store. */
const LOW_WATERMARK = 0.9;
const BATCH = 200;

export class Evictor {
  readonly #cache: ContentCache;
  readonly #maxSize: number | null;
  readonly #minFree: number;
  readonly #dataDir: string;
  readonly #log: Logger;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<EvictionResult> | undefined;
  #again = false;
  #warnedShortfall = false;
  readonly #lease: TakeLease | undefined;
  onEvict: ((r: EvictionResult) => void) | undefined;

  constructor(opts: {
    cache: ContentCache;
    maxSize: number | null;
    minFree: number;
    dataDir: string;
    log: Logger;
    intervalMs: number;
    /** With a replica set, passes run under the collection lease, one replica at a time. */
    lease?: TakeLease;
  }) {
    this.#lease = opts.lease;
    this.#cache = opts.cache;
    this.#maxSize = opts.maxSize;
    this.#minFree = opts.minFree;
    this.#dataDir = opts.dataDir;
    this.#log = opts.log;
    this.#intervalMs = opts.intervalMs;
  }

  start(): void {
    this.#timer = setInterval(() => void this.run(), this.#intervalMs);
    this.#timer.unref();
    void this.run();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** Cheap check after a store; starts a background run when over budget. */
  noteStored(): void {
    if (this.#maxSize !== null && this.#cache.db.evictableSize().bytes > this.#maxSize) void this.run();
  }

  /** One eviction pass (concurrent calls share it; a call during a run schedules one more). */
  run(opts: { dryRun?: boolean } = {}): Promise<EvictionResult> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = this.#pass(opts.dryRun ?? false)
      .catch((e: Error) => {
        // never fatal: a disk that refuses even deletes is retried on the next pass
        this.#log.warn({ err: e.message }, "eviction pass failed; retrying later");
        return { evicted: 0, bytes: 0, skippedInUse: 0 };
      })
      .finally(() => {
        this.#running = undefined;
        if (this.#again) {
          this.#again = false;
          void this.run();
        }
      });
    return this.#running;
  }

  async #pass(dryRun: boolean): Promise<EvictionResult> {
    const result: EvictionResult = { evicted: 0, bytes: 0, skippedInUse: 0 };
    const cache = this.#cache;
    if (!dryRun) cache.flushPendingDeletes();
    const bytes = cache.db.evictableSize().bytes - cache.pendingDeletes.bytes();
    const free = await freeBytes(this.#dataDir);
    const overSize = () => this.#maxSize !== null && bytes > this.#maxSize;
    let lowDisk = () => free < this.#minFree;
    if (lowDisk() && this.#minFree - free > bytes) {
      if (!this.#warnedShortfall)
        this.#log.warn(
          { free: formatBytes(free), minFree: formatBytes(this.#minFree), cacheBytes: formatBytes(bytes) },
          "disk is short of cache.minFree by more than the whole cache holds; keeping the cache, read-only",
        );
      this.#warnedShortfall = true;
      lowDisk = () => false;
    } else this.#warnedShortfall = false;
    if (!overSize() && !lowDisk()) return result;
    // Local eviction deletes this replica's own copies only, never the bucket's, so the lease is
    // about pacing, not safety: a disk below minFree is served first, lease or not.
    let lease: Awaited<ReturnType<TakeLease>>;
    try {
      lease = await this.#lease?.();
      if (this.#lease && !lease && !lowDisk()) {
        this.#log.info("eviction deferred: another replica is collecting (collection lease)");
        return { ...result, leaseBusy: true };
      }
    } catch (e) {
      this.#log.warn({ err: (e as Error).message }, "collection lease unavailable; evicting locally anyway");
    }
    try {
      return await this.#evict(result, { bytes, free, dryRun, lowDisk });
    } finally {
      await lease?.release().catch(() => {});
    }
  }

  async #evict(
    result: EvictionResult,
    s: { bytes: number; free: number; dryRun: boolean; lowDisk: () => boolean },
  ): Promise<EvictionResult> {
    const cache = this.#cache;
    const { dryRun } = s;
    let { bytes, free } = s;
    const lowDisk = () => s.lowDisk() && free < this.#minFree;
    const target = this.#maxSize !== null ? this.#maxSize * LOW_WATERMARK : 0;
    const seen = new Set<string>();
    while ((this.#maxSize !== null && bytes > target) || lowDisk()) {
      const batch = cache.db
        .lruBlobs(BATCH + seen.size + cache.pendingDeletes.size)
        .filter((b) => !seen.has(b.digest) && !cache.pendingDeletes.has(b.digest));
      if (batch.length === 0) break;
      // a server on this dataDir streams blobs that `wharf cache gc` must leave alone
      const elsewhere = await cache.inUseElsewhere();
      for (const b of batch) {
        seen.add(b.digest);
        if (cache.isInUse(b.digest) || elsewhere.has(b.digest)) {
          result.skippedInUse++;
          continue;
        }
        if (!dryRun && !(await cache.remove(b.digest))) {
          result.skippedInUse++;
          continue;
        }
        result.evicted++;
        result.bytes += b.size;
        bytes -= b.size;
        free += b.size;
        if (!((this.#maxSize !== null && bytes > target) || lowDisk())) break;
      }
    }
    if (!dryRun) cache.flushPendingDeletes();
    if (result.evicted > 0) {
      this.#log.info(
        { ...result, dryRun, cacheBytes: bytes },
        dryRun ? "eviction (dry run)" : "evicted least recently used blobs",
      );
      if (!dryRun) this.onEvict?.(result);
    }
    return result;
  }
}
