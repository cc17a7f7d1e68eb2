// A reply body that is a byte range of a file: a stored blob, or the temporary file of a fill
// still being written. The HTTP layer sends it with a few reused buffers (write-reply.ts) instead
// of a stream of freshly allocated chunks, which keeps memory flat and the CPU cost per byte low.
import type { FileHandle } from "node:fs/promises";
import { open } from "node:fs/promises";

export interface FileBody {
  readonly kind: "file";
  /** First and last byte (inclusive) to send. */
  readonly start: number;
  readonly end: number;
  open(): Promise<FileHandle>;
  /**
   * Resolves with the offset (exclusive) up to which bytes may be read now, once that is beyond
   * `pos`: at once for a stored file, as the upstream bytes arrive for a fill. Rejects when the
   * fill failed.
   */
  readable(pos: number): Promise<number>;
  /** Called exactly once when the body is no longer needed, sent or not. */
  release(): void;
}

export function isFileBody(body: unknown): body is FileBody {
  return typeof body === "object" && body !== null && (body as { kind?: unknown }).kind === "file";
}

/** `release`, made safe to call more than once (FileBody.release runs it exactly once). */
export function releaseOnce(release: () => void): () => void {
  let released = false;
  return () => {
    if (released) return;
    released = true;
    release();
  };
}

/** Bytes [start, end] of a complete file; `release` runs once (it ends the "in use" hold). */
export function storedFileBody(path: string, start: number, end: number, release: () => void): FileBody {
  return {
    kind: "file",
    start,
    end,
    open: () => open(path, "r"),
    readable: async () => end + 1,
    release: releaseOnce(release),
  };
}
