// What the cache needs from a content-addressed blob store, small enough that the filesystem
// store of today and an object store (a later issue) both implement it, and checked by one suite
// (blob-store.conformance.ts). The rule every implementation keeps: content becomes visible under
// its digest only whole and verified; a crash or a failed write leaves nothing under it.
import type { Readable } from "node:stream";
import type { Digest } from "../oci/digest.ts";

export interface StoredBlob {
  digest: string;
  size: number;
  /** When the blob was stored (or last modified), for rebuilding access times. */
  mtimeMs: number;
}

/** One blob being written. Nothing is visible under the digest before `commit()` returns. */
export interface BlobWriter {
  /** Bytes written so far. */
  readonly written: number;
  write(chunk: Uint8Array): Promise<void>;
  /**
   * Checks the bytes against the digest the writer was begun with and, when they match, makes
   * them visible under it atomically; resolves with the size. On a mismatch it throws
   * DIGEST_INVALID and discards the bytes.
   */
  commit(): Promise<number>;
  /** Discards what was written (idempotent; a no-op after commit). */
  abort(): Promise<void>;
}

export interface BlobStore {
  /** Prepares the store and removes what an interrupted write left behind. */
  init(): Promise<unknown>;
  /** Size of the stored blob, undefined when it is not stored. */
  size(d: Digest): Promise<number | undefined>;
  /** The whole blob (small content: manifests), undefined when it is not stored. */
  read(d: Digest): Promise<Buffer | undefined>;
  /** Bytes of a stored blob, all or the inclusive range. */
  createReadStream(d: Digest, range?: { start: number; end: number }): Readable;
  begin(d: Digest): Promise<BlobWriter>;
  /** Stores content the caller has already verified against `d`, atomically. */
  writeVerified(d: Digest, data: Uint8Array): Promise<void>;
  /** Removes a blob; removing one that is not there is not an error. */
  remove(d: Digest): Promise<void>;
  list(): AsyncIterable<StoredBlob>;
}
