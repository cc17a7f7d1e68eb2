// Content-addressed files: <dataDir>/blobs/<algorithm>/<first two hex>/<hex>. Shared by every
// registry, so a layer pulled from two registries is stored once. New content is written under
// <dataDir>/tmp, verified, fsynced and renamed into place: a crash never leaves a partial blob
// under its digest.
import { randomBytes } from "node:crypto";
import { constants, createReadStream, type ReadStream } from "node:fs";
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { Digest } from "../oci/digest.ts";
import type { BlobStore as BlobStoreApi, BlobWriter } from "../store/blob-store-api.ts";
import { beginFsBlobWrite } from "../store/fs-blob-writer.ts";

/** Asked before new content is written, told when a write failed (StoreHealth). */
export interface StoreGuard {
  readonly writable: boolean;
  ensureRoom(bytes: number): Promise<void>;
  noteWriteFailure(what: string, e: unknown): boolean;
}

export class BlobStore implements BlobStoreApi {
  readonly root: string;
  readonly tmpDir: string;
  guard: StoreGuard | undefined;

  constructor(dataDir: string) {
    this.root = join(dataDir, "blobs");
    this.tmpDir = join(dataDir, "tmp");
  }

  /** Creates the directories and removes temporary files left by a crash. */
  async init(): Promise<number> {
    await mkdir(this.root, { recursive: true, mode: 0o750 });
    await rm(this.tmpDir, { recursive: true, force: true });
    await mkdir(this.tmpDir, { recursive: true, mode: 0o750 });
    return 0;
  }

  /** False while the store is known to be full, read-only or failing. */
  get writable(): boolean {
    return this.guard?.writable ?? true;
  }

  /** Throws a 503 (Retry-After) when `bytes` more would leave less than cache.minFree free. */
  async ensureRoom(bytes: number): Promise<void> {
    await this.guard?.ensureRoom(bytes);
  }

  /** Reports a failed write (true when it was store trouble: full, read-only, I/O). */
  noteWriteFailure(what: string, e: unknown): boolean {
    return this.guard?.noteWriteFailure(what, e) ?? false;
  }

  pathOf(d: Digest): string {
    return join(this.root, d.algorithm, d.hex.slice(0, 2), d.hex);
  }

  async size(d: Digest): Promise<number | undefined> {
    try {
      return (await stat(this.pathOf(d))).size;
    } catch {
      return undefined;
    }
  }

  async read(d: Digest): Promise<Buffer | undefined> {
    try {
      return await readFile(this.pathOf(d));
    } catch {
      return undefined;
    }
  }

  createReadStream(d: Digest, range?: { start: number; end: number }): ReadStream {
    return createReadStream(this.pathOf(d), {
      start: range?.start,
      end: range?.end,
      highWaterMark: 256 * 1024,
    });
  }

  tempPath(): string {
    return join(this.tmpDir, `${Date.now()}-${randomBytes(6).toString("hex")}.partial`);
  }

  /** Moves a verified temporary file into place (fsync first so the rename never exposes a hole). */
  async commit(tempPath: string, d: Digest): Promise<void> {
    const fh = await open(tempPath, constants.O_RDONLY);
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    const target = this.pathOf(d);
    await mkdir(join(target, ".."), { recursive: true, mode: 0o750 });
    await rename(tempPath, target);
  }

  /** A streamed write: temporary file, digest checked, then `commit` above (store/fs-blob-writer.ts). */
  begin(d: Digest): Promise<BlobWriter> {
    return beginFsBlobWrite(this, d);
  }

  /** Writes small verified content (a manifest) atomically. */
  async writeVerified(d: Digest, data: Uint8Array): Promise<void> {
    const tmp = this.tempPath();
    const fh = await open(tmp, "wx", 0o640);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    const target = this.pathOf(d);
    await mkdir(join(target, ".."), { recursive: true, mode: 0o750 });
    await rename(tmp, target);
  }

  async remove(d: Digest): Promise<void> {
    await unlink(this.pathOf(d)).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== "ENOENT") throw e;
    });
  }

  /** Every stored blob as {digest, path, size, mtimeMs}. */
  async *list(): AsyncGenerator<{ digest: string; path: string; size: number; mtimeMs: number }> {
    for (const algorithm of await readdir(this.root).catch(() => [] as string[])) {
      const algDir = join(this.root, algorithm);
      for (const prefix of await readdir(algDir).catch(() => [] as string[])) {
        const dir = join(algDir, prefix);
        for (const hex of await readdir(dir).catch(() => [] as string[])) {
          const path = join(dir, hex);
          const s = await stat(path).catch(() => undefined);
          if (s?.isFile()) yield { digest: `${algorithm}:${hex}`, path, size: s.size, mtimeMs: s.mtimeMs };
        }
      }
    }
  }
}
