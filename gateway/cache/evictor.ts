// Keeps the cache inside cache.maxSize and leaves cache.minFree on the disk, evicting whole blobs
// by least recent access (a hit refreshes it). Blobs being filled or streamed are never removed.
// Runs in the background: after stores that cross the budget, and on an interval.
import { statfs } from "node:fs/promises";
import type { Logger } from "../log.ts";
import type { ContentCache } from "./content-cache.ts";

export interface EvictionResult {
  evicted: number;
  bytes: number;
  skippedInUse: number;
}

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
  onEvict: ((r: EvictionResult) => void) | undefined;

  constructor(opts: {
    cache: ContentCache;
    maxSize: number | null;
    minFree: number;
    dataDir: string;
    log: Logger;
    intervalMs: number;
  }) {
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
    if (this.#maxSize !== null && this.#cache.db.totalSize().bytes > this.#maxSize) void this.run();
  }

  async #freeBytes(): Promise<number> {
    try {
      const s = await statfs(this.#dataDir);
      return s.bavail * s.bsize;
    } catch {
      return Number.POSITIVE_INFINITY;
    }
  }

  /** One eviction pass (concurrent calls share it; a call during a run schedules one more). */
  run(opts: { dryRun?: boolean } = {}): Promise<EvictionResult> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = this.#pass(opts.dryRun ?? false).finally(() => {
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
    let { bytes } = this.#cache.db.totalSize();
    let free = await this.#freeBytes();
    const overSize = () => this.#maxSize !== null && bytes > this.#maxSize;
    const lowDisk = () => free < this.#minFree;
    if (!overSize() && !lowDisk()) return result;
    const target = this.#maxSize !== null ? this.#maxSize * LOW_WATERMARK : 0;
    const seen = new Set<string>();
    while ((this.#maxSize !== null && bytes > target) || lowDisk()) {
      const batch = this.#cache.db.lruBlobs(BATCH + seen.size).filter((b) => !seen.has(b.digest));
      if (batch.length === 0) break;
      for (const b of batch) {
        seen.add(b.digest);
        if (this.#cache.isInUse(b.digest)) {
          result.skippedInUse++;
          continue;
        }
        if (!dryRun && !(await this.#cache.remove(b.digest))) {
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
