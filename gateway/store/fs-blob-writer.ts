// A blob written to the filesystem store: bytes go to a temporary file, hashed on the way; commit
// checks the digest, then fsyncs and renames into place (cache/blob-store.ts), so the blob is
// visible under its digest only whole and verified.
import type { FileHandle } from "node:fs/promises";
import { open, unlink } from "node:fs/promises";
import { WharfError } from "../../common/errors.ts";
import { type Digest, digestHasher } from "../oci/digest.ts";
import type { BlobWriter } from "./blob-store-api.ts";

/** The parts of the filesystem store a writer uses. */
export interface TempFileStore {
  tempPath(): string;
  commit(tempPath: string, d: Digest): Promise<void>;
}

export async function beginFsBlobWrite(store: TempFileStore, d: Digest): Promise<BlobWriter> {
  const path = store.tempPath();
  const fh = await open(path, "wx", 0o640);
  return new FsBlobWriter(store, d, path, fh);
}

class FsBlobWriter implements BlobWriter {
  written = 0;
  readonly #store: TempFileStore;
  readonly #digest: Digest;
  readonly #path: string;
  readonly #hash: ReturnType<typeof digestHasher>;
  #fh: FileHandle | undefined;
  #state: "open" | "committed" | "aborted" = "open";

  constructor(store: TempFileStore, d: Digest, path: string, fh: FileHandle) {
    this.#store = store;
    this.#digest = d;
    this.#path = path;
    this.#fh = fh;
    this.#hash = digestHasher(d);
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.#state !== "open" || !this.#fh) throw new Error("blob writer is closed");
    this.#hash.update(chunk);
    const { bytesWritten } = await this.#fh.write(chunk, 0, chunk.length, this.written);
    this.written += bytesWritten;
  }

  async commit(): Promise<number> {
    if (this.#state !== "open" || !this.#fh) throw new Error("blob writer is closed");
    const actual = `${this.#digest.algorithm}:${this.#hash.digest("hex")}`;
    if (actual !== this.#digest.value) {
      await this.abort();
      throw new WharfError("DIGEST_INVALID", `content does not match its digest ${this.#digest.value}`);
    }
    await this.#fh.close();
    this.#fh = undefined;
    try {
      await this.#store.commit(this.#path, this.#digest);
    } catch (e) {
      await this.abort();
      throw e;
    }
    this.#state = "committed";
    return this.written;
  }

  async abort(): Promise<void> {
    if (this.#state !== "open") return;
    this.#state = "aborted";
    await this.#fh?.close().catch(() => {});
    this.#fh = undefined;
    await unlink(this.#path).catch(() => {});
  }
}
