// The shared, content-addressed cache: blob files + metadata + the fills in flight + which blobs
// are being streamed right now (eviction never deletes those). Every registry backend uses one.
import type { Readable } from "node:stream";
import type { Logger } from "../log.ts";
import { type Digest, parseDigest } from "../oci/digest.ts";
import { BlobFill, type FillSource } from "./blob-fill.ts";
import { BlobStore } from "./blob-store.ts";
import type { MetadataDb } from "./metadata-db.ts";

/** Access times are written at most this often per blob, to keep hits cheap. */
const TOUCH_INTERVAL_MS = 60_000;

export class ContentCache {
  readonly store: BlobStore;
  readonly db: MetadataDb;
  readonly fills = new Map<string, BlobFill>();
  readonly #inUse = new Map<string, number>();
  readonly #touched = new Map<string, number>();
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #fillTimeoutMs: number;
  /** Called when a fill ends, stored or not (fill-duration metrics). */
  onFill: ((f: { bytes: number; ms: number; ok: boolean }) => void) | undefined;
  /** Called after a blob is stored (eviction runs if over budget). */
  onStored: ((size: number) => void) | undefined;

  constructor(opts: {
    dataDir: string;
    db: MetadataDb;
    log: Logger;
    now?: () => number;
    fillTimeoutMs: number;
  }) {
    this.store = new BlobStore(opts.dataDir);
    this.db = opts.db;
    this.#log = opts.log;
    this.#now = opts.now ?? Date.now;
    this.#fillTimeoutMs = opts.fillTimeoutMs;
  }

  /** Size of a stored blob; a record whose file vanished is dropped. */
  async blobSize(d: Digest): Promise<number | undefined> {
    const rec = this.db.getBlob(d.value);
    const size = await this.store.size(d);
    if (size === undefined) {
      if (rec) this.db.deleteBlob(d.value);
      return undefined;
    }
    if (!rec) this.db.putBlob(d.value, size, null, this.#now());
    return size;
  }

  touch(d: Digest): void {
    const now = this.#now();
    const last = this.#touched.get(d.value) ?? 0;
    if (now - last < TOUCH_INTERVAL_MS) return;
    this.#touched.set(d.value, now);
    this.db.touchBlob(d.value, now);
  }

  isInUse(digest: string): boolean {
    return (this.#inUse.get(digest) ?? 0) > 0 || this.fills.has(digest);
  }

  /** Marks `digest` in use until `stream` closes. */
  hold(digest: string, stream: Readable): Readable {
    this.#inUse.set(digest, (this.#inUse.get(digest) ?? 0) + 1);
    stream.once("close", () => {
      const n = (this.#inUse.get(digest) ?? 1) - 1;
      if (n <= 0) this.#inUse.delete(digest);
      else this.#inUse.set(digest, n);
    });
    return stream;
  }

  openBlob(d: Digest, range?: { start: number; end: number }): Readable {
    this.touch(d);
    return this.hold(d.value, this.store.createReadStream(d, range));
  }

  /** The running fill for `d`, or a new one from `openSource` (registered before any await). */
  fill(
    d: Digest,
    openSource: (signal: AbortSignal) => Promise<FillSource>,
  ): { fill: BlobFill; joined: boolean } {
    const running = this.fills.get(d.value);
    if (running) return { fill: running, joined: true };
    const fill = new BlobFill(this.store, d, openSource, this.#fillTimeoutMs);
    this.fills.set(d.value, fill);
    fill.done
      .then(
        (size) => {
          this.db.putBlob(d.value, size, null, this.#now());
          this.#log.debug({ digest: d.value, size, ms: Date.now() - fill.startedAt }, "blob stored");
          this.onFill?.({ bytes: size, ms: Date.now() - fill.startedAt, ok: true });
          this.onStored?.(size);
        },
        (err: Error) =>
          this.#log.warn({ digest: d.value, err: err.message }, "blob fill failed; nothing cached"),
      )
      .finally(() => this.fills.delete(d.value));
    return { fill, joined: false };
  }

  async readManifest(d: Digest): Promise<{ body: Buffer; mediaType: string | null } | undefined> {
    const body = await this.store.read(d);
    if (!body) {
      if (this.db.getBlob(d.value)) this.db.deleteBlob(d.value);
      return undefined;
    }
    const rec = this.db.getBlob(d.value);
    this.touch(d);
    return { body, mediaType: rec?.mediaType ?? null };
  }

  async putManifest(d: Digest, body: Buffer, mediaType: string): Promise<void> {
    await this.store.writeVerified(d, body);
    this.db.putBlob(d.value, body.length, mediaType, this.#now());
    this.onStored?.(body.length);
  }

  async remove(digest: string): Promise<boolean> {
    if (this.isInUse(digest)) return false;
    await this.store.remove(parseDigest(digest));
    this.db.deleteBlob(digest);
    this.#touched.delete(digest);
    return true;
  }
}
