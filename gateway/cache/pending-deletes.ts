// Blob records whose file is already gone but whose delete the metadata database refused (a full
// disk: SQLite needs room to write even a delete). The space is free; the record is retried later,
// and until then the evictor counts the size as freed and skips the digest.
import type { MetadataDb } from "./metadata-db.ts";
import { storeProblem } from "./store-errors.ts";

export class PendingDeletes {
  /** Size by digest. */
  readonly #sizes = new Map<string, number>();

  /** Deletes the record of `digest`, or remembers it for `flush` when the disk refuses the write. */
  deleteRecord(db: MetadataDb, digest: string, size: number): void {
    try {
      db.deleteBlob(digest);
    } catch (e) {
      if (!storeProblem(e)) throw e;
      this.#sizes.set(digest, size);
    }
  }

  /** Retries the deletes a full disk refused; stops at the first that still fails. */
  flush(db: MetadataDb): void {
    for (const digest of this.#sizes.keys()) {
      try {
        db.deleteBlob(digest);
      } catch (e) {
        if (!storeProblem(e)) throw e;
        return;
      }
      this.#sizes.delete(digest);
    }
  }

  has(digest: string): boolean {
    return this.#sizes.has(digest);
  }

  get size(): number {
    return this.#sizes.size;
  }

  /** Bytes already freed on disk but still counted by the records. */
  bytes(): number {
    let n = 0;
    for (const size of this.#sizes.values()) n += size;
    return n;
  }
}
