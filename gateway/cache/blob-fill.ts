// One upstream fetch of a blob, shared by every client that wants it while it runs (single
// flight). Bytes go to a temporary file as they arrive; readers follow that file at their own
// pace, so the first byte reaches clients at once and a slow or departed client never holds up
// the fill. The digest is checked at the end; only then is the file renamed into the store and
// the last byte released to readers, so no client ever completes a download of wrong bytes.
import { EventEmitter } from "node:events";
import { close as closeCb, open as openCb, read as readCb } from "node:fs";
import { type FileHandle, open, unlink } from "node:fs/promises";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { WharfError } from "../errors.ts";
import { type Digest, digestHasher } from "../oci/digest.ts";
import type { BlobStore } from "./blob-store.ts";

export interface FillSource {
  body: Readable;
  /** Content-Length from upstream, when known. */
  size: number | undefined;
}

export type FillState = "running" | "done" | "failed";

const READ_CHUNK = 512 * 1024;

export class BlobFill extends EventEmitter {
  readonly digest: Digest;
  readonly tempPath: string;
  readonly startedAt = Date.now();
  written = 0;
  size: number | undefined;
  state: FillState = "running";
  error: Error | undefined;
  /** Resolves with the blob size once it is verified and stored; rejects when the fill fails. */
  readonly done: Promise<number>;
  readonly #store: BlobStore;
  readonly #abort = new AbortController();
  /** Resolves once the source answered (size known) or the fill failed. */
  readonly started: Promise<void>;
  #markStarted!: () => void;

  constructor(
    store: BlobStore,
    digest: Digest,
    openSource: (signal: AbortSignal) => Promise<FillSource>,
    timeoutMs: number,
  ) {
    super();
    this.setMaxListeners(0);
    this.#store = store;
    this.digest = digest;
    this.tempPath = store.tempPath();
    this.started = new Promise((resolve) => {
      this.#markStarted = resolve;
    });
    const timer = setTimeout(
      () => this.#abort.abort(new WharfError("UPSTREAM_TIMEOUT", "blob fill timed out")),
      timeoutMs,
    );
    timer.unref();
    this.done = this.#run(openSource).finally(() => clearTimeout(timer));
    // Nobody may be waiting on `done` (every client left); the failure is reported to readers.
    this.done.catch(() => {});
  }

  abort(reason: Error): void {
    this.#abort.abort(reason);
  }

  async #run(openSource: (signal: AbortSignal) => Promise<FillSource>): Promise<number> {
    let fh: FileHandle | undefined;
    try {
      fh = await open(this.tempPath, "wx", 0o640);
      const source = await openSource(this.#abort.signal);
      this.size = source.size;
      this.#markStarted();
      this.emit("progress");
      const hash = digestHasher(this.digest);
      const file = fh;
      const sink = new Writable({
        highWaterMark: 1024 * 1024,
        writev: (chunks, cb) => {
          const bufs = chunks.map((c) => c.chunk as Buffer);
          for (const b of bufs) hash.update(b);
          file.writev(bufs, this.written).then((r) => {
            this.written += r.bytesWritten;
            this.emit("progress");
            cb();
          }, cb);
        },
      });
      await pipeline(source.body, sink, { signal: this.#abort.signal });
      const actual = `${this.digest.algorithm}:${hash.digest("hex")}`;
      if (this.size !== undefined && this.written !== this.size) {
        throw new WharfError(
          "UPSTREAM_INVALID",
          `upstream sent ${this.written} of ${this.size} bytes for ${this.digest.value}`,
        );
      }
      if (actual !== this.digest.value) {
        throw new WharfError(
          "UPSTREAM_INVALID",
          `upstream blob does not match its digest ${this.digest.value} (got ${actual})`,
        );
      }
      await fh.close();
      fh = undefined;
      await this.#store.commit(this.tempPath, this.digest);
      this.size = this.written;
      this.state = "done";
      this.emit("progress");
      return this.written;
    } catch (e) {
      const reason =
        this.#abort.signal.aborted && this.#abort.signal.reason instanceof Error
          ? this.#abort.signal.reason
          : e;
      this.error = reason instanceof Error ? reason : new Error(String(reason));
      this.state = "failed";
      this.#markStarted();
      this.emit("progress");
      await fh?.close().catch(() => {});
      await unlink(this.tempPath).catch(() => {});
      throw this.error;
    }
  }

  /** A stream of bytes [start, end] (inclusive) of the blob, following the fill as it grows. */
  reader(start = 0, end?: number): Readable {
    return new FillReader(this, start, end, this.#store.pathOf(this.digest));
  }
}

class FillReader extends Readable {
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
    // Open the temporary file; if the fill was committed in between, the final file.
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
    const f = this.#fill;
    let limit = f.state === "done" ? (f.size ?? f.written) : f.written;
    if (f.state !== "done" && f.size !== undefined) limit = Math.min(limit, f.size - 1);
    if (this.#end !== undefined) limit = Math.min(limit, this.#end + 1);
    return limit;
  }

  override _read(): void {
    const f = this.#fill;
    if (f.state === "failed") {
      this.destroy(f.error ?? new Error("fill failed"));
      return;
    }
    const limit = this.#limit();
    if (this.#pos >= limit) {
      const total = f.state === "done" ? (f.size ?? f.written) : undefined;
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
