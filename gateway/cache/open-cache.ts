// Opens the cache at start: directories, lock, leftover temporary files removed, metadata
// database checked and, if missing or broken, rebuilt from the blob files (the blobs are the truth).
import { mkdir, rename, stat } from "node:fs/promises";
import { join } from "node:path";
import { WharfError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { parseDigest } from "../oci/digest.ts";
import { declaredMediaType } from "../oci/media-types.ts";
import { ContentCache } from "./content-cache.ts";
import { type DataDirLock, lockDataDir } from "./data-dir-lock.ts";
import { MetadataDb } from "./metadata-db.ts";

const MANIFEST_SNIFF_LIMIT = 4 * 1024 * 1024;

export interface OpenedCache {
  cache: ContentCache;
  lock: DataDirLock;
  close(): void;
}

/**
 * `shared: true` is for maintenance commands beside a running server: no lock, temporary files
 * left alone (a running fill owns them). SQLite (WAL) and unlink-while-open make that safe.
 */
export async function openCache(opts: {
  dataDir: string;
  log: Logger;
  fillTimeoutMs: number;
  now?: () => number;
  shared?: boolean;
}): Promise<OpenedCache> {
  try {
    await mkdir(opts.dataDir, { recursive: true, mode: 0o750 });
  } catch (e) {
    throw new WharfError(
      "STORE_UNAVAILABLE",
      `cannot create dataDir ${opts.dataDir} (${(e as NodeJS.ErrnoException).code})`,
    );
  }
  const lock: DataDirLock = opts.shared ? { release() {} } : await lockDataDir(opts.dataDir);
  const dbFile = join(opts.dataDir, "metadata.sqlite");
  const existed = await stat(dbFile).then(
    () => true,
    () => false,
  );
  let db: MetadataDb | undefined;
  try {
    db = new MetadataDb(dbFile);
    if (!db.check()) throw new Error("integrity check failed");
  } catch (e) {
    db?.close();
    const aside = `${dbFile}.broken-${Date.now()}`;
    opts.log.warn(
      { err: (e as Error).message, movedTo: aside },
      "metadata database unusable; rebuilding from blob files",
    );
    await rename(dbFile, aside).catch(() => {});
    db = new MetadataDb(dbFile);
  }
  const cache = new ContentCache({
    dataDir: opts.dataDir,
    db,
    log: opts.log,
    fillTimeoutMs: opts.fillTimeoutMs,
    now: opts.now,
  });
  if (!opts.shared) await cache.store.init();
  if (!existed || db.totalSize().count === 0) await rebuildIndex(cache, opts.log);
  return {
    cache,
    lock,
    close() {
      db.close();
      lock.release();
    },
  };
}

/** Re-registers every blob file (size, mtime as last access, manifest media type when it is one). */
export async function rebuildIndex(cache: ContentCache, log: Logger): Promise<number> {
  let n = 0;
  for await (const b of cache.store.list()) {
    let mediaType: string | null = null;
    try {
      const d = parseDigest(b.digest);
      if (b.size <= MANIFEST_SNIFF_LIMIT) {
        const body = await cache.store.read(d);
        const t = body ? declaredMediaType(body) : undefined;
        if (t && body && body[0] === 0x7b) mediaType = t;
      }
    } catch {
      continue;
    }
    cache.db.putBlob(b.digest, b.size, mediaType, Math.floor(b.mtimeMs));
    n++;
  }
  if (n > 0) log.info({ blobs: n }, "metadata rebuilt from blob files");
  return n;
}
