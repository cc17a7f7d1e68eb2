// Opens the cache at start: directories, lock, leftover temporary files removed, metadata
// database checked and, if missing or broken, rebuilt from the blob files (the blobs are the truth).
// A full disk is not a broken database: wharf then starts read-only (serving what it has).
import { mkdir, rename, stat } from "node:fs/promises";
import { join } from "node:path";
import { WharfError } from "../../common/errors.ts";
import type { Logger } from "../log.ts";
import { parseDigest } from "../oci/digest.ts";
import { declaredMediaType } from "../oci/media-types.ts";
import { ContentCache } from "./content-cache.ts";
import { type DataDirLock, inUseByServer, lockDataDir } from "./data-dir-lock.ts";
import { MetadataDb } from "./metadata-db.ts";
import { storeProblem } from "./store-errors.ts";

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
  /** cache.minFree: fills that would leave less free space are refused with 503. */
  minFree?: number;
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
  const db = await openMetadata(dbFile, existed, opts.log);
  const cache = new ContentCache({
    dataDir: opts.dataDir,
    db,
    log: opts.log,
    fillTimeoutMs: opts.fillTimeoutMs,
    now: opts.now,
    minFree: opts.minFree,
  });
  if (opts.shared) cache.inUseElsewhere = () => inUseByServer(opts.dataDir);
  else lock.inUse = () => cache.inUseDigests();
  if (!opts.shared) await cache.store.init();
  if (!existed || db.totalSize().count === 0) await rebuildIndex(cache, opts.log);
  if (db.inMemory)
    cache.health.onWritable = () => {
      if (db.persist()) opts.log.info("metadata database written back to dataDir");
    };
  return {
    cache,
    lock,
    close() {
      db.close();
      lock.release();
    },
  };
}

/**
 * The metadata database in `file`; a corrupt one is moved aside and rebuilt. When the disk cannot
 * take even a new empty database, the index lives in memory until the next start (hits still work).
 */
async function openMetadata(file: string, existed: boolean, log: Logger): Promise<MetadataDb> {
  let db: MetadataDb | undefined;
  try {
    db = new MetadataDb(file);
    if (!db.check()) throw new Error("integrity check failed");
    return db;
  } catch (e) {
    db?.close();
    if (storeProblem(e)) return inMemory(file, existed, log, e);
    const aside = `${file}.broken-${Date.now()}`;
    log.warn(
      { err: (e as Error).message, movedTo: aside },
      "metadata database unusable; rebuilding from blob files",
    );
    await rename(file, aside).catch(() => {});
  }
  try {
    return new MetadataDb(file);
  } catch (e) {
    if (storeProblem(e)) return inMemory(file, false, log, e);
    throw e;
  }
}

function inMemory(file: string, existed: boolean, log: Logger, e: unknown): MetadataDb {
  log.warn(
    { err: (e as Error).message },
    "cannot open the metadata database for writing (disk full or read-only); using an in-memory copy until there is room",
  );
  return MetadataDb.inMemoryCopyOf(file, existed);
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
    try {
      cache.db.putBlob(b.digest, b.size, mediaType, Math.floor(b.mtimeMs));
    } catch (e) {
      // a full disk: the files are still served (a hit records them when it can)
      if (!storeProblem(e)) throw e;
      log.warn({ indexed: n }, "metadata rebuild stopped: the store cannot take writes");
      return n;
    }
    n++;
  }
  if (n > 0) log.info({ blobs: n }, "metadata rebuilt from blob files");
  return n;
}
