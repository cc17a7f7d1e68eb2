// Garbage collection of hosted registries, safe while wharf serves (distribution can only collect
// offline). Mark: every linked manifest is a root (tagged or not: referrers are usually untagged);
// its config, layers, children and subject stay. Sweep: a blob link nothing marks goes once it is
// older than the grace period (a push links its blobs before its manifest exists). Files go when
// no hosted repository links them, the proxy cache does not use them and nobody is streaming them.
//
// Races with pushes: every push re-links (refreshes) what its manifest names inside the
// transaction that records the manifest, after re-checking the files exist; gc re-checks a link's
// age and deletes a file inside its own transaction. SQLite serialises the two, so either the push
// sees the file gone (MANIFEST_BLOB_UNKNOWN, the client uploads again) or gc sees a fresh link.
// A replica set collects over the shared index and the bucket instead: shared-hosted-gc.ts.
import { statSync, unlinkSync } from "node:fs";
import { readdir, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Progress } from "../../cache/cache-maintenance.ts";
import type { ContentCache } from "../../cache/content-cache.ts";
import type { Logger } from "../../log.ts";
import { parseDigest } from "../../oci/digest.ts";
import { HostedMeta } from "./hosted-meta.ts";
import { uploadsDir } from "./hosted-registry.ts";
import { referencedDigests } from "./manifest-check.ts";
import { DATA_FILE, isUploadId, STATE_FILE, type StoredState } from "./upload-sessions.ts";

export const DEFAULT_GC_GRACE_MS = 60 * 60 * 1000;

export interface HostedGcResult {
  manifests: number;
  linksRemoved: number;
  blobsDeleted: number;
  bytesFreed: number;
  /** Unlinked from hosted repositories but kept as proxy-cache content (LRU decides). */
  keptForCache: number;
  /** Being streamed right now (this process only): tried again next run. */
  keptInUse: number;
  uploadsRemoved: number;
}

export async function collectHostedGarbage(opts: {
  cache: ContentCache;
  /** Upload TTL (ms) of a hosted registry by name. */
  uploadTtl: (registry: string) => number;
  graceMs?: number;
  now?: () => number;
  dryRun?: boolean;
  log: Logger;
  progress?: (total: number) => Progress;
}): Promise<HostedGcResult> {
  const { cache, log } = opts;
  const now = opts.now ?? Date.now;
  const dryRun = opts.dryRun === true;
  const cutoff = now() - (opts.graceMs ?? DEFAULT_GC_GRACE_MS);
  const meta = new HostedMeta(cache.db);
  const r: HostedGcResult = {
    manifests: 0,
    linksRemoved: 0,
    blobsDeleted: 0,
    bytesFreed: 0,
    keptForCache: 0,
    keptInUse: 0,
    uploadsRemoved: 0,
  };
  const key = (registry: string, repository: string, digest: string) =>
    `${registry}\n${repository}\n${digest}`;

  const marked = new Set<string>();
  for (const l of meta.links("manifest")) {
    r.manifests++;
    const body = await cache.store.read(parseDigest(l.digest));
    if (!body) continue;
    const refs = referencedDigests(body);
    for (const d of [...refs.blobs, ...refs.manifests]) marked.add(key(l.registry, l.repository, d));
  }

  const stale = meta
    .links("blob")
    .filter((l) => !marked.has(key(l.registry, l.repository, l.digest)) && l.createdAt < cutoff);
  const bar = opts.progress?.(stale.length);
  const staleKeys = new Set(stale.map((l) => key(l.registry, l.repository, l.digest)));
  const wouldOrphan = new Set<string>();
  for (const l of stale) {
    bar?.increment(1);
    if (dryRun) {
      r.linksRemoved++;
      wouldOrphan.add(l.digest);
      continue;
    }
    // Re-checked under the write lock: a manifest PUT since the mark refreshed the link.
    const removed = meta.immediate(() => {
      const current = meta.linkCreatedAt(l.registry, l.repository, l.digest);
      if (current === undefined || current >= cutoff) return false;
      return meta.unlink(l.registry, l.repository, l.digest, now());
    });
    if (removed) r.linksRemoved++;
  }
  bar?.stop();

  const candidates = new Set([...meta.orphans().map((o) => o.digest), ...wouldOrphan]);
  for (const digest of candidates) {
    const path = cache.store.pathOf(parseDigest(digest));
    const outcome = (): "linked" | "cache" | "inuse" | "deleted" => {
      const linked = dryRun
        ? meta.linksOf(digest).some((l) => !staleKeys.has(key(l.registry, l.repository, l.digest)))
        : meta.isLinkedAnywhere(digest);
      if (linked) return "linked";
      if (meta.usedByProxy(digest)) return "cache";
      if (cache.isInUse(digest)) return "inuse";
      return "deleted";
    };
    if (dryRun) {
      const o = outcome();
      if (o === "deleted") {
        r.blobsDeleted++;
        r.bytesFreed += statSync(path, { throwIfNoEntry: false })?.size ?? 0;
      } else if (o === "cache") r.keptForCache++;
      else if (o === "inuse") r.keptInUse++;
      continue;
    }
    const done = meta.immediate(() => {
      const o = outcome();
      if (o === "inuse") return { o, size: 0 };
      meta.dropOrphan(digest);
      if (o !== "deleted") return { o, size: 0 };
      const size = statSync(path, { throwIfNoEntry: false })?.size ?? 0;
      meta.forgetBlob(digest);
      try {
        unlinkSync(path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
      }
      return { o, size };
    });
    if (done.o === "deleted") {
      r.blobsDeleted++;
      r.bytesFreed += done.size;
    } else if (done.o === "cache") r.keptForCache++;
    else if (done.o === "inuse") r.keptInUse++;
  }

  r.uploadsRemoved = await removeAbandonedUploads(uploadsDir(cache), opts.uploadTtl, now(), dryRun);
  log.info({ ...r, dryRun }, dryRun ? "hosted gc (dry run)" : "hosted gc done");
  return r;
}

/** Upload sessions idle (no byte or state written) for longer than their registry's uploadTtl. */
export async function removeAbandonedUploads(
  dir: string,
  uploadTtl: (registry: string) => number,
  now: number,
  dryRun: boolean,
): Promise<number> {
  let removed = 0;
  for (const id of await readdir(dir).catch(() => [] as string[])) {
    const session = join(dir, id);
    const times = await Promise.all(
      [session, join(session, STATE_FILE), join(session, DATA_FILE)].map((p) =>
        stat(p).then(
          (s) => s.mtimeMs,
          () => 0,
        ),
      ),
    );
    const state = await readFile(join(session, STATE_FILE), "utf8").then(
      (t) => JSON.parse(t) as StoredState,
      () => undefined,
    );
    // A session without a readable state (a crash during start) or a stray name: default TTL.
    const ttl = uploadTtl(isUploadId(id) && state ? state.registry : "");
    if (now - Math.max(...times) <= ttl) continue;
    removed++;
    if (!dryRun) await rm(session, { recursive: true, force: true });
  }
  return removed;
}
