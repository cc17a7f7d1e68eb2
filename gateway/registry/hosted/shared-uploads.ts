// Blob upload sessions a replica set shares (storage.postgres with storage.kind s3): the session
// row in PostgreSQL, the bytes as pieces in the bucket (<prefix>uploads/<id>/…), so that a client
// whose POST, PATCHes and PUT land on different replicas pushes as it would to one node. Each
// chunk is cut into pieces of at most PIECE_BYTES, stored whole, then accepted by a conditional
// UPDATE of the offset (pg-upload-sessions.ts): a chunk that lost the race for its offset, or came
// out of order, is answered 416 and its pieces deleted. Finishing (PUT ?digest=) streams the pieces
// in order, then the PUT's own body, through the shared store's writer, which checks the digest
// and makes the blob visible only when it matched; then the pieces go. docs/storage.md, "Hosted".
import { randomBytes } from "node:crypto";
import type { Readable } from "node:stream";
import { isWharfError, WharfError } from "../../../common/errors.ts";
import type { SharedBlobStore } from "../../cache/shared-blobs.ts";
import type { Logger } from "../../log.ts";
import type { Digest } from "../../oci/digest.ts";
import type { BlobWriter } from "../../store/blob-store-api.ts";
import type { PgUploadSessions, PieceRow, UploadRow } from "../../store/pg/pg-upload-sessions.ts";
import type { UploadChunks } from "../../store/upload-chunks-api.ts";
import type { ChunkInfo, UploadState } from "../registry.ts";
import { assertChunkAt, isUploadId, rangeInvalid, sizeInvalid, unknown } from "./upload-sessions.ts";

/** Largest piece held in memory before it is stored (one PutObject with a known length). */
export const PIECE_BYTES = 8 * 1024 * 1024;

/** A finish that has not ended after this long is taken as dead (its replica died mid-PUT). */
const CLAIM_STALE_MS = 10 * 60 * 1000;

export class SharedUploads {
  readonly #rows: PgUploadSessions;
  readonly #chunks: UploadChunks;
  readonly #blobs: SharedBlobStore;
  readonly #registry: string;
  readonly #now: () => number;
  readonly #log: Logger;
  readonly #ttl: number;
  #lastSweep = 0;

  constructor(opts: {
    rows: PgUploadSessions;
    chunks: UploadChunks;
    blobs: SharedBlobStore;
    registry: string;
    now: () => number;
    log: Logger;
    /** hosted.uploadTtl: a session idle for longer is removed. */
    uploadTtl: number;
  }) {
    this.#rows = opts.rows;
    this.#chunks = opts.chunks;
    this.#blobs = opts.blobs;
    this.#registry = opts.registry;
    this.#now = opts.now;
    this.#log = opts.log;
    this.#ttl = opts.uploadTtl;
  }

  async start(repository: string): Promise<UploadState> {
    const id = randomBytes(16).toString("hex");
    await this.#rows.create(id, this.#registry, repository, this.#now());
    this.#sweepSoon();
    return { id, repository, offset: 0 };
  }

  async status(repository: string, id: string): Promise<UploadState> {
    const s = await this.#load(repository, id);
    return { id, repository, offset: s.offset };
  }

  async append(repository: string, id: string, body: Readable, chunk: ChunkInfo): Promise<UploadState> {
    const s = await this.#load(repository, id);
    if (s.finishingAt !== null) {
      body.resume();
      throw rangeInvalid(s.offset);
    }
    const expected = assertChunkAt(chunk, s.offset, body);
    const attempt = randomBytes(4).toString("hex");
    const pieces: PieceRow[] = [];
    const store = async (data: Buffer, start: number) => {
      const key = `${id}/${start.toString(16).padStart(12, "0")}-${attempt}`;
      await this.#chunks.put(key, data).catch(bucketUnavailable);
      pieces.push({ start, size: data.length, key });
    };
    let offset: number | undefined;
    try {
      const received = await cutIntoPieces(body, s.offset, store);
      if (expected !== undefined && received !== expected) throw sizeInvalid(expected, received);
      offset = await this.#rows.advance(id, s.offset, pieces, this.#now());
    } finally {
      if (offset === undefined && pieces.length > 0)
        await this.#chunks.remove(pieces.map((p) => p.key)).catch(() => {});
    }
    if (offset === undefined) {
      // another chunk took this offset first (or a finish began): spec, 416 with the current range
      const now = await this.#rows.get(id);
      if (!now) throw unknown();
      throw rangeInvalid(now.offset);
    }
    return { id, repository, offset };
  }

  async cancel(repository: string, id: string): Promise<void> {
    await this.#load(repository, id);
    await this.#discard(id);
  }

  async finish(
    repository: string,
    id: string,
    digest: Digest,
    body: Readable | undefined,
    chunk: ChunkInfo,
  ): Promise<{ digest: string; size: number }> {
    const loaded = await this.#load(repository, id);
    if (body) assertChunkAt(chunk, loaded.offset, body);
    const now = this.#now();
    const claimed = await this.#rows.claim(id, now, now - CLAIM_STALE_MS);
    if (!claimed) {
      body?.resume();
      throw new WharfError("BLOB_UPLOAD_INVALID", "the upload is being finished by another request");
    }
    const { row, pieces } = claimed;
    let w: BlobWriter | undefined;
    try {
      // a chunk accepted between our look and the claim moved the offset
      const expected = body ? assertChunkAt(chunk, row.offset, body) : undefined;
      w = await this.#blobs.begin(digest).catch(bucketUnavailable);
      let at = 0;
      for (const p of pieces) {
        if (p.start !== at) throw unknown(); // a piece row is missing: the session cannot be finished
        await copyPiece(this.#chunks, p.key, w).catch(bucketUnavailable);
        at += p.size;
      }
      if (at !== row.offset || w.written !== at) throw unknown();
      if (body) {
        for await (const c of body) await w.write(c as Buffer);
        const received = w.written - at;
        if (expected !== undefined && received !== expected) throw sizeInvalid(expected, received);
      }
      const size = await w.commit().catch(bucketUnavailable);
      await this.#discard(id);
      return { digest: digest.value, size };
    } catch (e) {
      await w?.abort().catch(() => {});
      // distribution discards a session whose digest did not match: the client starts over
      if (isWharfError(e) && (e.code === "DIGEST_INVALID" || e.code === "BLOB_UPLOAD_UNKNOWN"))
        await this.#discard(id).catch(() => {});
      else await this.#rows.unclaim(id).catch(() => {});
      throw e;
    }
  }

  async #load(repository: string, id: string): Promise<UploadRow> {
    if (!isUploadId(id)) throw unknown();
    const s = await this.#rows.get(id);
    if (!s || s.registry !== this.#registry || s.repository !== repository) throw unknown();
    return s;
  }

  /** Pieces first: a row without pieces is harmless, pieces without a row only the sweep finds. */
  async #discard(id: string): Promise<void> {
    await this.#chunks.removeSession(id);
    await this.#rows.remove(id);
  }

  /** At most once per quarter of uploadTtl, in the background: idle sessions and stray pieces go. */
  #sweepSoon(): void {
    const now = this.#now();
    if (now - this.#lastSweep < Math.max(60_000, this.#ttl / 4)) return;
    this.#lastSweep = now;
    this.sweep().catch((e: Error) => this.#log.warn({ err: e.message }, "upload sweep failed"));
  }

  /** Removes this registry's sessions idle for longer than uploadTtl, and pieces of no session. */
  async sweep(): Promise<number> {
    const cutoff = this.#now() - this.#ttl;
    let removed = 0;
    const rows = await this.#rows.all();
    for (const r of rows)
      if (r.registry === this.#registry && r.updatedAt < cutoff) {
        await this.#discard(r.id);
        removed++;
      }
    const known = new Set(rows.map((r) => r.id));
    for await (const s of this.#chunks.sessions())
      if (!known.has(s.id) && s.lastModified < cutoff) await this.#chunks.removeSession(s.id);
    if (removed > 0) this.#log.info({ removed }, "idle upload sessions removed");
    return removed;
  }
}

/** A failure of the bucket is a 503 (clients retry), not an internal error. */
function bucketUnavailable(e: unknown): never {
  if (isWharfError(e)) throw e;
  throw new WharfError("STORE_UNAVAILABLE", "the shared store is unavailable", { cause: e });
}

async function copyPiece(chunks: UploadChunks, key: string, w: BlobWriter): Promise<void> {
  for await (const c of chunks.open(key)) await w.write(c as Buffer);
}

/** Reads `body` into pieces of at most PIECE_BYTES, each stored before more is read. */
async function cutIntoPieces(
  body: Readable,
  start: number,
  store: (data: Buffer, start: number) => Promise<void>,
): Promise<number> {
  let parts: Buffer[] = [];
  let held = 0;
  let at = start;
  const flush = async () => {
    if (held === 0) return;
    const data = Buffer.concat(parts, held);
    parts = [];
    held = 0;
    await store(data, at);
    at += data.length;
  };
  for await (const c of body) {
    const buf = c as Buffer;
    for (let off = 0; off < buf.length; ) {
      const take = Math.min(buf.length - off, PIECE_BYTES - held);
      parts.push(buf.subarray(off, off + take));
      held += take;
      off += take;
      if (held === PIECE_BYTES) await flush();
    }
  }
  await flush();
  return at - start;
}
