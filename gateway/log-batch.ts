// Log lines written in one turn of the event loop leave in one write. pino's asynchronous
// destination (sonic-boom) starts a write(2) for every line that finds no write in flight, which
// on a busy gateway is nearly every request line: about 5 % of the CPU of a cached manifest hit.
// Lines are queued and handed over together from setImmediate; flush() and the exit hook hand
// over what is queued at once, so nothing is held back longer than the current turn.
import type { DestinationStream } from "pino";

interface Destination extends DestinationStream {
  flush?(cb?: (err?: Error) => void): void;
  flushSync?(): void;
}

/** Batches with lines that could still be queued at exit (one exit hook for all of them). */
const live = new Set<WeakRef<LineBatch>>();
let hooked = false;

function flushAllSync(): void {
  for (const ref of live) ref.deref()?.flushSync();
}

export class LineBatch implements DestinationStream {
  #lines: string[] = [];
  #scheduled = false;
  readonly #dest: Destination;

  constructor(dest: Destination) {
    this.#dest = dest;
    // pino's own exit hook flushes the destination; the lines queued here must reach it first
    live.add(new WeakRef(this));
    if (!hooked) {
      hooked = true;
      process.once("exit", flushAllSync);
    }
  }

  write(line: string): void {
    this.#lines.push(line);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#handOver);
    }
  }

  readonly #handOver = (): void => {
    this.#scheduled = false;
    if (this.#lines.length === 0) return;
    const text = this.#lines.length === 1 ? (this.#lines[0] as string) : this.#lines.join("");
    this.#lines = [];
    this.#dest.write(text);
  };

  flush(cb?: (err?: Error) => void): void {
    this.#handOver();
    if (this.#dest.flush) this.#dest.flush(cb);
    else cb?.();
  }

  flushSync(): void {
    this.#handOver();
    this.#dest.flushSync?.();
  }
}
