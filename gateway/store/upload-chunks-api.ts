// Where a replica set keeps the bytes of blob uploads in progress (docs/storage.md, "Hosted
// content"): one object per piece of a chunk, under a session's own prefix, so that every replica
// can append to a session and the one that finishes it can read every piece back in order.
import type { Readable } from "node:stream";

export interface UploadChunks {
  /** Stores one piece (whole, with its length known); `key` is `<session id>/<name>`. */
  put(key: string, data: Buffer): Promise<void>;
  open(key: string): Readable;
  /** Removes pieces by key (a piece of a chunk that lost its race for the offset). */
  remove(keys: string[]): Promise<void>;
  /** Removes every piece of a session (a missing one is no error). */
  removeSession(id: string): Promise<void>;
  /** Sessions that have pieces, with the time of their newest piece (for stale cleanup). */
  sessions(): AsyncIterable<{ id: string; lastModified: number }>;
}
