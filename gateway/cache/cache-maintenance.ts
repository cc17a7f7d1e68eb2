// Offline maintenance used by `wharf cache ...`: listing, removal, verification (re-hash every
// blob, quarantine mismatches) and garbage collection (orphans, eviction to budget).
import { WharfError } from "../../common/errors.ts";
import type { Logger } from "../log.ts";
import { parseDigest } from "../oci/digest.ts";
import { type CheckResult, checkStoredBlobs, type StoredBlob } from "./blob-check.ts";
import type { ContentCache } from "./content-cache.ts";
import { Evictor } from "./evictor.ts";
import type { TagRecord } from "./metadata-db.ts";

export interface Progress {
  increment(n?: number, bytes?: number): void;
  stop(): void;
}

export function listTags(cache: ContentCache, filter?: string): TagRecord[] {
  if (!filter) return cache.db.listTags();
  const slash = filter.indexOf("/");
  const registry = slash > 0 ? filter.slice(0, slash) : filter;
  const repo = slash > 0 ? filter.slice(slash + 1) : undefined;
  return cache.db.listTags(registry, repo);
}

/** `registry/repo:tag` removes a tag record; `sha256:...` removes a blob or manifest. */
export async function removeReference(cache: ContentCache, ref: string): Promise<string> {
  if (/^[a-z0-9]+:[a-f0-9]{32,}$/.test(ref)) {
    const d = parseDigest(ref);
    if ((await cache.blobSize(d)) === undefined)
      throw new WharfError("BLOB_UNKNOWN", `${ref} is not in the cache`);
    await cache.remove(d.value);
    return `removed ${ref}`;
  }
  const m = /^([^/]+)\/(.+):([^:/]+)$/.exec(ref);
  if (!m)
    throw new WharfError(
      "NAME_INVALID",
      `expected registry/repository:tag or a digest, got "${ref.slice(0, 200)}"`,
    );
  const [, registry, repository, tag] = m as unknown as [string, string, string, string];
  if (!cache.db.getTag(registry, repository, tag))
    throw new WharfError("MANIFEST_UNKNOWN", `${ref} is not in the cache`);
  cache.db.deleteTag(registry, repository, tag);
  return `removed tag ${ref} (its content stays until evicted or garbage-collected)`;
}

/** Re-hashes every stored blob (as the scrub does, unpaced) and quarantines mismatches. */
export async function verifyBlobs(
  cache: ContentCache,
  progress?: (total: number) => Progress,
): Promise<CheckResult> {
  const all: StoredBlob[] = [];
  for await (const b of cache.store.list()) all.push(b);
  const bar = progress?.(all.length);
  const result = await checkStoredBlobs(cache, all, {
    foundBy: "cache verify",
    onBlob: (b) => bar?.increment(1, b.size),
  });
  bar?.stop();
  return result;
}

export interface GcResult {
  orphanRecords: number;
  unindexedFiles: number;
  evicted: number;
  evictedBytes: number;
}

export async function collectGarbage(
  cache: ContentCache,
  opts: {
    dataDir: string;
    maxSize: number | null;
    minFree: number;
    dryRun: boolean;
    log: Logger;
    progress?: (total: number) => Progress;
  },
): Promise<GcResult> {
  const files = new Map<string, { size: number; mtimeMs: number }>();
  for await (const b of cache.store.list()) files.set(b.digest, b);
  const records = cache.db.allBlobDigests();
  const bar = opts.progress?.(records.length + files.size);
  const result: GcResult = { orphanRecords: 0, unindexedFiles: 0, evicted: 0, evictedBytes: 0 };
  for (const digest of records) {
    if (!files.has(digest)) {
      result.orphanRecords++;
      if (!opts.dryRun) cache.db.deleteBlob(digest);
    }
    bar?.increment(1);
  }
  const known = new Set(records);
  for (const [digest, f] of files) {
    if (!known.has(digest)) {
      result.unindexedFiles++;
      if (!opts.dryRun) cache.db.putBlob(digest, f.size, null, Math.floor(f.mtimeMs));
    }
    bar?.increment(1);
  }
  bar?.stop();
  const ev = await new Evictor({
    cache,
    maxSize: opts.maxSize,
    minFree: opts.minFree,
    dataDir: opts.dataDir,
    log: opts.log,
    intervalMs: 60_000,
  }).run({
    dryRun: opts.dryRun,
  });
  result.evicted = ev.evicted;
  result.evictedBytes = ev.bytes;
  return result;
}
