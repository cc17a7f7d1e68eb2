// One upstream fetch of a blob, shared by every client that wants it while it runs (single
// flight). Bytes go to a temporary file as they arrive; readers follow that file at their own
// pace, so the first byte reaches clients at once and a slow or departed client never holds up
// the fill. The digest is checked at the end; only then is the last byte released to readers, so
// no client ever completes a download of wrong bytes. The fsync and rename into the store come
// after that release: they make the store durable, they do not make the bytes any more correct,
// and a 1 GiB fsync would otherwise hold every client's last byte for seconds.
import { EventEmitter } from "node:events";
import { type FileHandle, open, unlink } from "node:fs/promises";
import { addAbortSignal, type Readable } from "node:stream";
import { isWharfError, WharfError } from "../../common/errors.ts";
import { type Digest, digestHasher } from "../oci/digest.ts";
import type { BlobStore } from "./blob-store.ts";
import { FillReader } from "./fill-body.ts";
import { type FillCoordinator, type FollowedFill, followFill, publishFill } from "./fill-coordination.ts";
import { storeUnavailable } from "./store-errors.ts";

export interface FillSource {
  body: Readable;
  /** Content-Length from upstream, when known. */
  size: number | undefined;
}

export type FillState = "running" | "done" | "failed";

/**
 * Blobs up to this size are also kept in memory while they are fetched and answered from there
 * once verified: a client of a small layer then waits for no file reads (config blobs and small
 * layers are most of the blobs in a typical image).
 */
export const SMALL_BLOB_BYTES = 1024 * 1024;

/** Bytes gathered from upstream before one hash update and one write to the temporary file. */
const WRITE_BATCH = 512 * 1024;

/**
 * What a failed fill tells its clients: its own WharfError (digest, size, timeout), a cache that
 * could not take the bytes (an fs error: 503), or an upstream body that broke off (a socket
 * error after the headers: 502), never a bare 500.
 */
function fillFailure(e: unknown): Error {
  if (isWharfError(e)) return e;
  const err = e instanceof Error ? e : new Error(String(e));
  if (typeof (err as NodeJS.ErrnoException).syscall === "string")
    return storeUnavailable(`cache write failed: ${err.message}`, err);
  return new WharfError("UPSTREAM_UNAVAILABLE", `upstream body broke off: ${err.message}`, { cause: err });
}

export class BlobFill extends EventEmitter {
  readonly digest: Digest;
  /** Where the bytes are written: this fill's own file, or the one of the process it follows. */
  tempPath: string;
  readonly startedAt = Date.now();
  written = 0;
  size: number | undefined;
  state: FillState = "running";
  /** The digest matched: every byte may be read, even while the file is being committed. */
  verified = false;
  error: Error | undefined;
  /** The bytes come from the shared blob store (storage.kind s3), not from upstream. */
  fromShared = false;
  /** Another process fetched the bytes (workers: N); this one only followed its file. */
  followed = false;
  /** The whole blob, once verified, when it is at most SMALL_BLOB_BYTES long. */
  bytes: Buffer | undefined;
  /** Resolves with the blob size once it is verified and stored; rejects when the fill fails. */
  readonly done: Promise<number>;
  readonly #store: BlobStore;
  readonly #abort = new AbortController();
  readonly #coordinator: FillCoordinator | undefined;
  /** Resolves once the source answered (size known) or the fill failed. */
  readonly started: Promise<void>;
  #markStarted!: () => void;

  constructor(
    store: BlobStore,
    digest: Digest,
    openSource: (signal: AbortSignal) => Promise<FillSource>,
    timeoutMs: number,
    /** workers: N: the fill may run in another process (fill-coordination.ts). */
    coordinator?: FillCoordinator,
  ) {
    super();
    this.setMaxListeners(0);
    this.#store = store;
    this.#coordinator = coordinator;
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
    // one process (no coordinator): straight on, as before workers existed
    const followed = this.#coordinator ? await this.#claim(this.#coordinator) : undefined;
    if (followed) return this.#follow(followed);
    let fh: FileHandle | undefined;
    let source: FillSource | undefined;
    try {
      // a store known not to take writes refuses before upstream is asked (503, nothing recorded);
      // a healthy one costs the fill no wait here: the length is checked once upstream answers
      if (!this.#store.writable) await this.#store.ensureRoom(0);
      // the temporary file and the upstream request are opened side by side
      const opening = open(this.tempPath, "wx", 0o640);
      opening.catch(() => {});
      source = await openSource(this.#abort.signal).finally(async () => {
        fh = await opening.catch(() => undefined);
      });
      fh = fh ?? (await opening);
      // refused up front when the declared length would not fit: never a client's 200 cut short
      if (source.size !== undefined) await this.#store.ensureRoom(source.size);
      this.size = source.size;
      this.#markStarted();
      this.emit("progress");
      const hash = digestHasher(this.digest);
      const file = fh;
      // a small blob is kept in memory and written once verified: its clients wait for no file I/O
      const kept: Buffer[] | undefined =
        this.size !== undefined && this.size <= SMALL_BLOB_BYTES ? [] : undefined;
      let received = 0;
      // Upstream data arrives in TLS-record-sized chunks (16 KiB). They are copied into one of two
      // reused WRITE_BATCH buffers, hashed and written a whole buffer at a time, one write in
      // flight while the other buffer fills. The copy (a memcpy) costs less than what it saves:
      // a 16 KiB chunk no longer lives across awaits, so it dies young instead of being promoted
      // with its native memory until the next full GC (tens of MiB of RSS after a 1 GiB fill),
      // and the hash and the file see 32 times fewer calls.
      const buffers = kept ? [] : [Buffer.allocUnsafeSlow(WRITE_BATCH), Buffer.allocUnsafeSlow(WRITE_BATCH)];
      let current = 0;
      let filled = 0;
      let writing: Promise<void> = Promise.resolve();
      const writeBuffer = async (buf: Buffer) => {
        let off = 0;
        while (off < buf.length) {
          const r = await file.write(buf, off, buf.length - off, this.written);
          this.written += r.bytesWritten;
          off += r.bytesWritten;
        }
        this.emit("progress");
      };
      const flush = async (last: boolean) => {
        const buf = (buffers[current] as Buffer).subarray(0, filled);
        hash.update(buf);
        await writing; // at most one write in flight: that is the backpressure on upstream
        writing = writeBuffer(buf);
        writing.catch(() => {}); // awaited here or below; never an unhandled rejection
        if (last) return;
        current ^= 1;
        filled = 0;
      };
      for await (const chunk of addAbortSignal(this.#abort.signal, source.body)) {
        const b = chunk as Buffer;
        received += b.length;
        if (kept) {
          if (received > SMALL_BLOB_BYTES) throw this.#sizeError(received);
          hash.update(b);
          kept.push(b);
          continue;
        }
        let off = 0;
        while (off < b.length) {
          const n = b.copy(buffers[current] as Buffer, filled, off);
          filled += n;
          off += n;
          // the buffer being filled is never the one being written: flush awaits that write first
          if (filled === WRITE_BATCH) await flush(false);
        }
      }
      if (!kept && filled > 0) await flush(true);
      await writing;
      const actual = `${this.digest.algorithm}:${hash.digest("hex")}`;
      if (this.size !== undefined && received !== this.size) throw this.#sizeError(received);
      if (actual !== this.digest.value) {
        throw new WharfError(
          "UPSTREAM_INVALID",
          `upstream blob does not match its digest ${this.digest.value} (got ${actual})`,
        );
      }
      if (kept) this.bytes = Buffer.concat(kept, received);
      this.size = received;
      this.verified = true;
      this.emit("progress");
      if (kept) {
        this.written = (await fh.writev(kept, 0)).bytesWritten;
        this.emit("progress");
      }
      await fh.close();
      fh = undefined;
      await this.#store.commit(this.tempPath, this.digest);
      this.state = "done";
      this.emit("progress");
      return this.written;
    } catch (e) {
      const reason =
        this.#abort.signal.aborted && this.#abort.signal.reason instanceof Error
          ? this.#abort.signal.reason
          : e;
      this.error = fillFailure(reason);
      this.#store.noteWriteFailure("a blob fill", reason);
      this.state = "failed";
      this.#markStarted();
      this.emit("progress");
      source?.body.destroy();
      await fh?.close().catch(() => {});
      await unlink(this.tempPath).catch(() => {});
      throw this.error;
    }
  }

  /** Another process may be fetching this blob already; if not, this one publishes its progress. */
  async #claim(c: FillCoordinator): Promise<FollowedFill | undefined> {
    // coordination that does not answer costs a duplicate fetch, never the request
    const followed = await c.claim(this.digest.value, this.tempPath).catch(() => undefined);
    if (!followed) publishFill(this, c);
    return followed;
  }

  async #follow(followed: FollowedFill): Promise<number> {
    this.followed = true;
    try {
      return await followFill(this, followed, this.#abort.signal, () => this.#markStarted());
    } catch (e) {
      this.error = fillFailure(e);
      this.state = "failed";
      this.#markStarted();
      this.emit("progress");
      throw this.error;
    }
  }

  #sizeError(received: number): WharfError {
    return new WharfError(
      "UPSTREAM_INVALID",
      `upstream sent ${received} of ${this.size} bytes for ${this.digest.value}`,
    );
  }

  /** Offset up to which bytes may be read now: all that was written, the last byte only once verified. */
  available(): number {
    // a small blob reaches its file only after verification (readers normally use `bytes`)
    if (this.bytes && this.state !== "done") return this.written;
    if (this.verified || this.state === "done") return this.size ?? this.written;
    return this.size !== undefined ? Math.min(this.written, this.size - 1) : this.written;
  }

  /** Resolves once every byte is verified; rejects when the fill fails before that. */
  whenVerified(): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        if (this.verified || this.state === "done") resolve();
        else if (this.broken) reject(this.error ?? new Error("fill failed"));
        else return false;
        this.off("progress", check);
        return true;
      };
      if (!check()) this.on("progress", check);
    });
  }

  /** The fill failed before its bytes were verified (after that, readers may finish). */
  get broken(): boolean {
    return this.state === "failed" && !this.verified;
  }

  /** A stream of bytes [start, end] (inclusive) of the blob, following the fill as it grows. */
  reader(start = 0, end?: number): Readable {
    return new FillReader(this, start, end, this.finalPath);
  }

  /** Where the blob lives once committed. */
  get finalPath(): string {
    return this.#store.pathOf(this.digest);
  }
}
