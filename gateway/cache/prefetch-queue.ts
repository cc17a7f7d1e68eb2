// Blobs fetched ahead of the client (prefetch-planner.ts decides which and when). A pull asks for
// an image's config and layers one after the other (skopeo) or a few at a time (docker: 3);
// starting those fills early, a few in parallel, overlaps the upstream's per-blob latency instead
// of paying it per request. A client asking for a blob joins its fill (single flight), so nothing
// is fetched twice. Bounded: `concurrency` fills at a time, at most MAX_QUEUED waiting.
import type { Logger } from "../log.ts";

/** Waiting tasks beyond this are dropped: clients fetch those blobs themselves. */
const MAX_QUEUED = 10_000;

export class PrefetchQueue {
  readonly concurrency: number;
  readonly #log: Logger;
  readonly #waiting: (() => Promise<void>)[] = [];
  #running = 0;

  constructor(concurrency: number, log: Logger) {
    this.concurrency = concurrency;
    this.#log = log;
  }

  get running(): number {
    return this.#running;
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  /**
   * Runs `tasks` in order as slots free up, after the tasks already waiting (or before them,
   * `first`: a client is pulling that image now). Failures are logged; a client retries on its
   * own request.
   */
  add(tasks: (() => Promise<void>)[], opts: { first?: boolean } = {}): void {
    if (this.concurrency <= 0) return;
    const room = tasks.slice(0, Math.max(0, MAX_QUEUED - this.#waiting.length));
    if (opts.first) this.#waiting.unshift(...room);
    else this.#waiting.push(...room);
    this.#next();
  }

  #next(): void {
    while (this.#running < this.concurrency && this.#waiting.length > 0) {
      const task = this.#waiting.shift() as () => Promise<void>;
      this.#running++;
      task()
        .catch((e: unknown) => this.#log.info({ err: (e as Error).message }, "prefetch failed"))
        .finally(() => {
          this.#running--;
          this.#next();
        });
    }
  }
}
