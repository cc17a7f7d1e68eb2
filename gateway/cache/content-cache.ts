// The shared, content-addressed cache: blob files + metadata + the fills in flight + which blobs
// are being streamed right now (eviction never deletes those). Every registry backend uses one.
import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import type { Logger } from "../log.ts";
import { type Digest, parseDigest } from "../oci/digest.ts";
import type { FillLease } from "../store/s3/s3-fill-lease.ts";
import { BlobFill, type FillSource } from "./blob-fill.ts";
import { quarantineBlob } from "./blob-quarantine.ts";
import { BlobStore } from "./blob-store.ts";
import { type FileBody, storedFileBody } from "./file-body.ts";
import type { FillCoordinator } from "./fill-coordination.ts";
import type { MetadataDb } from "./metadata-db.ts";
import { PendingDeletes } from "./pending-deletes.ts";
import { quarantineIfCorrupt, type SharedBlobStore, sharedFirst, shareStored } from "./shared-blobs.ts";
import { storeProblem } from "./store-errors.ts";
import { StoreHealth } from "./store-health.ts";

/** Access times are written at most this often per blob, to keep hits cheap. */
const TOUCH_INTERVAL_MS = 60_000;

/**
 * Manifests are small, immutable by digest and read on every tag pull: the most recently used
 * stay in memory (up to this many bytes), which saves an open/fstat/read/close per request.
 */
const MANIFEST_MEMO_BYTES = 16 * 1024 * 1024;
const MANIFEST_MEMO_ITEM_BYTES = 4 * 1024 * 1024;

/** Repository/blob associations are recorded at most this often, like access times. */
const NOTED_MAX_ENTRIES = 100_000;

interface StoredManifestBody {
  body: Buffer;
  mediaType: string | null;
}

export class ContentCache {
  readonly store: BlobStore;
  readonly db: MetadataDb;
  /** The bucket every replica shares (storage.kind s3); the local store is then its hot cache. */
  readonly shared: SharedBlobStore | undefined;
  readonly health: StoreHealth;
  readonly #dataDir: string;
  /** Blobs whose file is gone but whose record could not be deleted yet (a full disk). */
  readonly pendingDeletes = new PendingDeletes();
  /** Digests another process on this dataDir is serving (a server, asked by `wharf cache gc`). */
  inUseElsewhere: () => Promise<ReadonlySet<string>> = async () => new Set();
  readonly fills = new Map<string, BlobFill>();
  /** workers: N: one fill per blob across the processes on this dataDir (fill-coordination.ts). */
  fillCoordinator: FillCoordinator | undefined;
  readonly #inUse = new Map<string, number>();
  readonly #touched = new Map<string, number>();
  readonly #noted = new Map<string, number>();
  /** Insertion order is recency order: a hit re-inserts, the oldest goes first. */
  readonly #manifests = new Map<string, StoredManifestBody>();
  #manifestBytes = 0;
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
    /** cache.minFree: fills that would leave less free space are refused. */
    minFree?: number;
    shared?: SharedBlobStore;
  }) {
    this.#dataDir = opts.dataDir;
    this.store = new BlobStore(opts.dataDir);
    this.shared = opts.shared;
    this.db = opts.db;
    this.health = new StoreHealth(this.store.tmpDir, { minFree: opts.minFree, log: opts.log });
    this.store.guard = this.health;
    this.db.onWriteFailure = (what, e) => this.health.noteWriteFailure(what, e);
    this.#log = opts.log;
    this.#now = opts.now ?? Date.now;
    this.#fillTimeoutMs = opts.fillTimeoutMs;
  }

  /** Size of a stored blob; a record whose file vanished is dropped. */
  async blobSize(d: Digest): Promise<number | undefined> {
    const rec = this.db.getBlob(d.value);
    const size = await this.store.size(d);
    if (size === undefined) {
      if (rec) this.#bestEffort(() => this.db.deleteBlob(d.value));
      return undefined;
    }
    // the file is the truth: it is served even when its record cannot be written now
    if (!rec) this.#bestEffort(() => this.db.putBlob(d.value, size, null, this.#now()));
    return size;
  }

  /** Runs a metadata write a hit can do without (StoreHealth has logged why it failed). */
  #bestEffort(write: () => void): void {
    try {
      write();
    } catch (e) {
      if (!storeProblem(e)) throw e;
    }
  }

  /** Size of `d` in the shared store (undefined: none configured, or not there). */
  async sharedSize(d: Digest): Promise<number | undefined> {
    return this.shared?.size(d);
  }

  touch(d: Digest): void {
    const now = this.#now();
    const last = this.#touched.get(d.value) ?? 0;
    if (now - last < TOUCH_INTERVAL_MS) return;
    // Bounded like #noted: forgetting only costs one early access-time write.
    if (this.#touched.size >= NOTED_MAX_ENTRIES) this.#touched.clear();
    this.#touched.set(d.value, now);
    this.db.touchBlob(d.value, now);
  }

  /** Records that `repository` of `registry` uses `digest` (throttled like touch). */
  noteRepoBlob(registry: string, repository: string, digest: string): void {
    const now = this.#now();
    const key = `${registry}\n${repository}\n${digest}`;
    const last = this.#noted.get(key) ?? 0;
    if (now - last < TOUCH_INTERVAL_MS) return;
    if (this.#noted.size >= NOTED_MAX_ENTRIES) this.#noted.clear();
    this.#noted.set(key, now);
    this.db.noteRepoBlob(registry, repository, digest, now);
  }

  isInUse(digest: string): boolean {
    return (this.#inUse.get(digest) ?? 0) > 0 || this.fills.has(digest);
  }

  /** Every digest being streamed or filled now (what the data-dir lock tells `wharf cache gc`). */
  inUseDigests(): string[] {
    return [...new Set([...this.#inUse.keys(), ...this.fills.keys()])];
  }

  /** Marks `digest` in use until the returned function is called (idempotent). */
  hold(digest: string): () => void {
    this.#inUse.set(digest, (this.#inUse.get(digest) ?? 0) + 1);
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      const n = (this.#inUse.get(digest) ?? 1) - 1;
      if (n <= 0) this.#inUse.delete(digest);
      else this.#inUse.set(digest, n);
    };
  }

  /** Marks `digest` in use until `stream` closes. */
  holdStream(digest: string, stream: Readable): Readable {
    stream.once("close", this.hold(digest));
    return stream;
  }

  /** Bytes of a stored blob (all, or the inclusive range), in use until the body is released. */
  openBlob(d: Digest, size: number, range?: { start: number; end: number }): FileBody {
    this.touch(d);
    const release = this.hold(d.value);
    return storedFileBody(this.store.pathOf(d), range?.start ?? 0, range?.end ?? size - 1, release);
  }

  /**
   * The running fill for `d`, or a new one from `openSource` (registered before any await). A fill
   * that has failed but is still cleaning up (closing and removing its temporary file) is not
   * joined: a client retrying at once gets a new fetch, not the old error.
   */
  fill(
    d: Digest,
    openSource: (signal: AbortSignal) => Promise<FillSource>,
  ): { fill: BlobFill; joined: boolean } {
    const running = this.fills.get(d.value);
    if (running && !running.broken) return { fill: running, joined: true };
    const shared = this.shared;
    let lease: FillLease | undefined;
    // `fill` is assigned before the wrapped source first resumes (it awaits the shared store first)
    const source = shared
      ? sharedFirst(shared, d, openSource, {
          shared: () => {
            fill.fromShared = true;
          },
          lease: (l) => {
            lease = l;
          },
          unavailable: (e) =>
            this.#log.warn(
              { digest: d.value, err: (e as Error).message },
              "shared store unavailable; filling from upstream without it",
            ),
        })
      : openSource;
    const fill: BlobFill = new BlobFill(this.store, d, source, this.#fillTimeoutMs, this.fillCoordinator);
    this.fills.set(d.value, fill);
    fill.done
      .then(async (size) => {
        try {
          this.db.putBlob(d.value, size, null, this.#now());
        } catch (e) {
          // its clients had their verified bytes; a file without a record would escape eviction,
          // so it goes too unless a client still reads it (a hit then records it again)
          if (!this.#inUse.has(d.value)) await this.store.remove(d).catch(() => {});
          throw e;
        }
        this.#log.debug({ digest: d.value, size, ms: Date.now() - fill.startedAt }, "blob stored");
        if (fill.followed) return; // the process that fetched it counts it
        this.onFill?.({ bytes: size, ms: Date.now() - fill.startedAt, ok: true });
        this.onStored?.(size);
        // the fill stays registered (in use: never evicted) until the other replicas can have it
        if (shared && !fill.fromShared) await shareStored(shared, d, this.store.pathOf(d), this.#log);
      })
      .catch(async (err: Error) => {
        this.#log.warn({ digest: d.value, err: err.message }, "blob fill failed; nothing cached");
        if (shared && fill.fromShared) await quarantineIfCorrupt(shared, d, fill.error, this.#log);
      })
      .finally(async () => {
        // after the upload: a replica waiting on the lease finds the blob in the store
        await lease?.release();
        if (this.fills.get(d.value) === fill) this.fills.delete(d.value);
      });
    return { fill, joined: false };
  }

  async readManifest(d: Digest): Promise<StoredManifestBody | undefined> {
    const memo = this.#manifests.get(d.value);
    if (memo) {
      this.#manifests.delete(d.value);
      this.#manifests.set(d.value, memo);
      this.touch(d);
      return memo;
    }
    let body = await this.store.read(d);
    if (!body) {
      if (this.db.getBlob(d.value)) this.#bestEffort(() => this.db.deleteBlob(d.value));
      body = await this.#readSharedManifest(d);
      if (!body) return undefined;
    }
    // a manifest is read whole anyway: hashing it costs little and a file changed on disk is
    // refetched instead of served
    if (d.algorithm === "sha256" && createHash("sha256").update(body).digest("hex") !== d.hex) {
      await this.quarantine(d.value, "manifest read");
      return undefined;
    }
    const rec = this.db.getBlob(d.value);
    this.touch(d);
    const found = { body, mediaType: rec?.mediaType ?? null };
    this.#remember(d.value, found);
    return found;
  }

  /** A manifest another replica stored, verified and kept locally (media type sniffed later). */
  async #readSharedManifest(d: Digest): Promise<Buffer | undefined> {
    const body = await this.shared?.read(d).catch(() => undefined);
    if (!body || d.algorithm !== "sha256" || createHash("sha256").update(body).digest("hex") !== d.hex)
      return undefined;
    await this.store.writeVerified(d, body).catch(() => {});
    return body;
  }

  /** `inShared`: the caller has already written the shared store (a hosted push in a replica set). */
  async putManifest(d: Digest, body: Buffer, mediaType: string, inShared = false): Promise<void> {
    await this.store.writeVerified(d, body);
    this.db.putBlob(d.value, body.length, mediaType, this.#now());
    this.#forget(d.value);
    this.#remember(d.value, { body, mediaType });
    this.onStored?.(body.length);
    if (inShared) return;
    // shared after local: a store that is down costs the other replicas a fetch, not this one a write
    await this.shared
      ?.writeVerified(d, body)
      .catch((e: Error) =>
        this.#log.warn({ digest: d.value, err: e.message }, "could not store manifest in the shared store"),
      );
  }

  /**
   * Serves a verified manifest from memory at once and stores it in the background: the client
   * need not wait for the fsync (tens of milliseconds on a busy disk). Until the file is in place
   * the memory copy answers; after a crash the tag is simply fetched again. The promise settles
   * once the manifest is stored (in the shared store too), or storing failed; it never rejects.
   */
  putManifestSoon(d: Digest, body: Buffer, mediaType: string, inShared = false): Promise<void> {
    this.#forget(d.value);
    this.#remember(d.value, { body, mediaType });
    // settles (never rejects) once stored, or once storing failed: what waits on it is best effort
    return this.putManifest(d, body, mediaType, inShared).catch((e: Error) =>
      this.#log.warn({ digest: d.value, err: e.message }, "could not store manifest; serving it from memory"),
    );
  }

  #remember(digest: string, m: StoredManifestBody): void {
    if (m.body.length > MANIFEST_MEMO_ITEM_BYTES) return;
    this.#manifests.set(digest, m);
    this.#manifestBytes += m.body.length;
    for (const [oldest, old] of this.#manifests) {
      if (this.#manifestBytes <= MANIFEST_MEMO_BYTES) break;
      this.#manifests.delete(oldest);
      this.#manifestBytes -= old.body.length;
    }
  }

  #forget(digest: string): void {
    const m = this.#manifests.get(digest);
    if (!m) return;
    this.#manifests.delete(digest);
    this.#manifestBytes -= m.body.length;
  }

  /**
   * Deletes a blob: the file first (that is what frees space), then its record. On a full disk the
   * record delete can fail; it is then kept in `pendingDeletes` and retried (flushPendingDeletes).
   */
  async remove(digest: string): Promise<boolean> {
    if (this.isInUse(digest)) return false;
    const size = this.db.getBlob(digest)?.size ?? 0;
    await this.store.remove(parseDigest(digest));
    this.#touched.delete(digest);
    this.#forget(digest);
    this.pendingDeletes.deleteRecord(this.db, digest, size);
    return true;
  }

  /** Retries record deletes that a full disk refused. */
  flushPendingDeletes(): void {
    this.pendingDeletes.flush(this.db);
  }

  /** Moves a blob whose bytes no longer match its digest out of the cache (blob-quarantine.ts). */
  async quarantine(digest: string, foundBy: string): Promise<void> {
    await quarantineBlob(
      { dataDir: this.#dataDir, store: this.store, db: this.db, log: this.#log },
      digest,
      foundBy,
    );
    this.#forget(digest);
    this.#touched.delete(digest);
  }
}
