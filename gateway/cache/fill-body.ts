// Following a fill: as a file body (file-body.ts), which the HTTP layer sends from the fill's
// temporary file (or the stored blob, once committed) as far as the fill allows, waiting for more;
// or as a Readable stream, for the rare upstream that sends no Content-Length.
import { close as closeCb, open as openCb, read as readCb } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { Readable } from "node:stream";
import type { BlobFill } from "./blob-fill.ts";
import { type FileBody, releaseOnce } from "./file-body.ts";

/** A reader following a fill wakes up for this many new bytes, or after FOLLOW_WAIT_MS. */
const FOLLOW_BATCH = 512 * 1024;
const FOLLOW_WAIT_MS = 20;
const READ_CHUNK = 512 * 1024;

async function openFill(fill: BlobFill): Promise<FileHandle> {
  await fill.started; // before that, neither the temporary nor the final file may exist
  try {
    return await open(fill.tempPath, "r");
  } catch {
    // committed meanwhile (renamed into the store), or failed
    try {
      return await open(fill.finalPath, "r");
    } catch (e) {
      throw fill.error ?? e;
    }
  }
}

/**
 * Resolves once a reader at `pos` has something to send. With many readers following one fill,
 * waking each of them for every small write would turn one upstream stream into thousands of
 * tiny reads and writes: a reader waits for FOLLOW_BATCH new bytes (or the end), but never
 * longer than FOLLOW_WAIT_MS once anything is there, so a slow upstream still trickles through.
 */
function readable(fill: BlobFill, pos: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const settle = (): void => {
      fill.off("progress", check);
      clearTimeout(timer);
    };
    const check = (): boolean => {
      if (fill.broken) {
        settle();
        reject(fill.error ?? new Error("fill failed"));
        return true;
      }
      const limit = fill.available();
      if (limit <= pos) return false;
      if (fill.verified || fill.state === "done" || limit - pos >= FOLLOW_BATCH) {
        settle();
        resolve(limit);
        return true;
      }
      timer ??= setTimeout(() => {
        settle();
        if (fill.broken) reject(fill.error ?? new Error("fill failed"));
        else resolve(fill.available());
      }, FOLLOW_WAIT_MS);
      return false;
    };
    if (!check()) fill.on("progress", check);
  });
}

/** Bytes [start, end] (inclusive) of the blob `fill` is fetching; `release` runs once. */
export function fillFileBody(fill: BlobFill, start: number, end: number, release: () => void): FileBody {
  return {
    kind: "file",
    start,
    end,
    open: () => openFill(fill),
    readable: (pos) => readable(fill, pos),
    release: releaseOnce(release),
  };
}

/** A stream of bytes [start, end] (inclusive) of the blob, following the fill as it grows. */
export class FillReader extends Readable {
  readonly #fill: BlobFill;
  readonly #finalPath: string;
  #pos: number;
  readonly #end: number | undefined;
  #fd: number | undefined;
  #waiting = false;

  constructor(fill: BlobFill, start: number, end: number | undefined, finalPath: string) {
    super({ highWaterMark: READ_CHUNK });
    this.#fill = fill;
    this.#pos = start;
    this.#end = end;
    this.#finalPath = finalPath;
  }

  override _construct(cb: (err?: Error | null) => void): void {
    // The temporary file exists once the fill has started (a reader made in the same turn as the
    // fill would find neither file); then open it, or the final file if committed in between.
    void this.#fill.started.then(() => this.#open(cb));
  }

  #open(cb: (err?: Error | null) => void): void {
    openCb(this.#fill.tempPath, "r", (err, fd) => {
      if (!err) {
        this.#fd = fd;
        return cb();
      }
      openCb(this.#finalPath, "r", (err2, fd2) => {
        if (err2) return cb(this.#fill.error ?? err2);
        this.#fd = fd2;
        cb();
      });
    });
  }

  /** Bytes that may be handed out now: everything written, except the last byte until verified. */
  #limit(): number {
    const limit = this.#fill.available();
    return this.#end !== undefined ? Math.min(limit, this.#end + 1) : limit;
  }

  override _read(): void {
    const f = this.#fill;
    if (f.broken) {
      this.destroy(f.error ?? new Error("fill failed"));
      return;
    }
    const limit = this.#limit();
    if (this.#pos >= limit) {
      const total = f.state === "done" || f.verified ? (f.size ?? f.written) : undefined;
      const target = this.#end !== undefined ? this.#end + 1 : total;
      if (target !== undefined && this.#pos >= target) {
        this.push(null);
        return;
      }
      if (total !== undefined && this.#pos >= total) {
        this.push(null);
        return;
      }
      if (!this.#waiting) {
        this.#waiting = true;
        f.once("progress", () => {
          this.#waiting = false;
          this._read();
        });
      }
      return;
    }
    const len = Math.min(READ_CHUNK, limit - this.#pos);
    const buf = Buffer.allocUnsafe(len);
    readCb(this.#fd as number, buf, 0, len, this.#pos, (err, n) => {
      if (err) return this.destroy(err);
      if (n === 0) {
        // Should not happen: the writer reported these bytes. Wait for more progress.
        f.once("progress", () => this._read());
        return;
      }
      this.#pos += n;
      this.push(n === len ? buf : buf.subarray(0, n));
    });
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (this.#fd === undefined) {
      cb(err);
      return;
    }
    closeCb(this.#fd, () => cb(err));
  }
}
