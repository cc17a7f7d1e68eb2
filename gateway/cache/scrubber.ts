// Background scrub: re-hashes every stored blob at a bounded rate (cache.scrubRate) once per
// cache.scrubInterval and quarantines any whose bytes no longer match their digest, so content
// corrupted on disk after it was stored stops being served without waiting for `cache verify`.
// Chosen over re-hashing a sample of hits: a hit streams its bytes as it reads them, so a hash
// computed on the way is known only after the client has them; the scrub finds the damage before
// a client asks, covers cold blobs too, and its disk load does not grow with traffic. Manifests,
// read whole on every memory miss, are also checked on read (content-cache.ts).
import type { Logger } from "../log.ts";
import { type CheckResult, checkStoredBlobs } from "./blob-check.ts";
import type { ContentCache } from "./content-cache.ts";

/** Wait before the first pass, so that a restart does not add a scrub to the start-up load. */
const FIRST_PASS_DELAY_MS = 60_000;

export class Scrubber {
  readonly #cache: ContentCache;
  readonly #log: Logger;
  readonly #intervalMs: number;
  readonly #bytesPerSecond: number;
  readonly #stop = new AbortController();
  #timer: NodeJS.Timeout | undefined;

  constructor(opts: { cache: ContentCache; log: Logger; intervalMs: number; bytesPerSecond: number }) {
    this.#cache = opts.cache;
    this.#log = opts.log;
    this.#intervalMs = opts.intervalMs;
    this.#bytesPerSecond = opts.bytesPerSecond;
  }

  start(firstDelayMs = Math.min(FIRST_PASS_DELAY_MS, this.#intervalMs)): void {
    const schedule = (ms: number) => {
      this.#timer = setTimeout(async () => {
        const started = Date.now();
        await this.pass().catch((e: Error) => this.#log.warn({ err: e.message }, "scrub pass failed"));
        if (!this.#stop.signal.aborted) schedule(Math.max(0, this.#intervalMs - (Date.now() - started)));
      }, ms);
      this.#timer.unref();
    };
    schedule(firstDelayMs);
  }

  stop(): void {
    this.#stop.abort();
    clearTimeout(this.#timer);
  }

  /** One pass over every stored blob, reading at most bytesPerSecond. */
  async pass(): Promise<CheckResult> {
    const result = await checkStoredBlobs(this.#cache, this.#cache.store.list(), {
      foundBy: "scrub",
      signal: this.#stop.signal,
      bytesPerSecond: this.#bytesPerSecond,
    });
    this.#log.info(
      { checked: result.checked, bytes: result.bytes, quarantined: result.quarantined.length },
      "scrub pass done",
    );
    return result;
  }
}
