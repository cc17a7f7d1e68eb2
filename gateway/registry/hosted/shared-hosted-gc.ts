// Garbage collection of hosted registries in a replica set (storage.postgres + storage.kind s3): the
// same mark and sweep as hosted-gc.ts, over the shared index in PostgreSQL and the bucket. `wharf
// gc` runs it under the collection lease, so one replica collects at a time.
//
// Races with pushes (and mirror syncs, which link through the same SQL): a digest's object is
// removed inside a transaction holding that digest's gc lock exclusive, after seeing no link; a
// link holds the lock shared until it commits, and first looks in the bucket again for a digest gc
// marked collected (pg-hosted-index.ts). So either the link commits first and gc keeps the object,
// or gc removes it first and the push answers BLOB_UNKNOWN / MANIFEST_BLOB_UNKNOWN (the client
// uploads it again). A blob link younger than the grace period stays, as on one node, and (more
// careful than one node, where a file is checked inside the push's own transaction) so does a digest
// unlinked less than the grace period ago.
//
// Proxied content shares the bucket. PostgreSQL knows proxied tags (proxy_tags) but not which blobs
// a replica proxied by digest; so a digest stays when a proxied tag names it, when a proxied tag's
// manifest (or an index's child) references it, or when this replica's own records say its proxy
// used it. What no record names may still have been pulled by digest through another replica's
// proxy: its bucket copy can go (that replica keeps its disk copy; the others fetch it upstream).
import type pg from "pg";
import type { Progress } from "../../cache/cache-maintenance.ts";
import type { ContentCache } from "../../cache/content-cache.ts";
import type { SharedBlobStore } from "../../cache/shared-blobs.ts";
import type { Logger } from "../../log.ts";
import { parseDigest } from "../../oci/digest.ts";
import { GC_DIGEST_LOCK } from "../../store/pg/pg-hosted-index.ts";
import { inTransaction } from "../../store/pg/pg-transaction.ts";
import type { HostedGcResult } from "./hosted-gc.ts";
import { HostedMeta } from "./hosted-meta.ts";
import { referencedDigests } from "./manifest-check.ts";

/** Tombstones older than this are dropped: no push looks at the bucket this long before linking. */
const TOMBSTONE_MS = 24 * 60 * 60 * 1000;

const key = (registry: string, repository: string, digest: string) => `${registry}\n${repository}\n${digest}`;

export async function collectSharedHostedGarbage(opts: {
  pool: pg.Pool;
  bucket: SharedBlobStore;
  cache: ContentCache;
  graceMs: number;
  now?: () => number;
  dryRun?: boolean;
  log: Logger;
  progress?: (total: number) => Progress;
}): Promise<Omit<HostedGcResult, "uploadsRemoved">> {
  const { pool, bucket, cache } = opts;
  const now = opts.now ?? Date.now;
  const dryRun = opts.dryRun === true;
  const cutoff = now() - opts.graceMs;
  const meta = new HostedMeta(cache.db);
  const r = { manifests: 0, linksRemoved: 0, blobsDeleted: 0, bytesFreed: 0, keptForCache: 0, keptInUse: 0 };

  // mark: every linked manifest is a root; a manifest whose object is gone marks nothing (as on one
  // node), but a bucket that does not answer stops the run before anything is unlinked
  const marked = new Set<string>();
  const manifests = await pool.query<{ registry: string; repository: string; digest: string }>(
    "SELECT registry, repository, digest FROM hosted_links WHERE kind = 'manifest'",
  );
  for (const l of manifests.rows) {
    r.manifests++;
    const body = await bucket.read(parseDigest(l.digest));
    if (!body) continue;
    const refs = referencedDigests(body);
    for (const d of [...refs.blobs, ...refs.manifests]) marked.add(key(l.registry, l.repository, d));
  }

  const blobLinks = await pool.query<{ registry: string; repository: string; digest: string }>(
    "SELECT registry, repository, digest FROM hosted_links WHERE kind = 'blob' AND created_at < $1",
    [cutoff],
  );
  const stale = blobLinks.rows.filter((l) => !marked.has(key(l.registry, l.repository, l.digest)));
  const bar = opts.progress?.(stale.length);
  const staleKeys = new Set(stale.map((l) => key(l.registry, l.repository, l.digest)));
  for (const l of stale) {
    bar?.increment(1);
    if (dryRun) {
      r.linksRemoved++;
      continue;
    }
    // the age is checked again by the DELETE itself: a push since the mark refreshed the link. The
    // digest is unreferenced since that link was last made, so it may go in this same run
    const removed = await inTransaction(pool, async (c) => {
      const d = await c.query<{ created_at: string }>(
        `DELETE FROM hosted_links WHERE registry = $1 AND repository = $2 AND digest = $3 AND kind = 'blob'
         AND created_at < $4 RETURNING created_at`,
        [l.registry, l.repository, l.digest, cutoff],
      );
      const since = d.rows[0]?.created_at;
      if (since === undefined) return false;
      await c.query(
        `INSERT INTO hosted_orphans (digest, since) SELECT $1::text, $2::bigint
         WHERE NOT EXISTS (SELECT 1 FROM hosted_links WHERE digest = $1) ON CONFLICT DO NOTHING`,
        [l.digest, Number(since)],
      );
      return true;
    });
    if (removed) r.linksRemoved++;
  }
  bar?.stop();

  // a digest goes once nothing has linked it for the grace period (a manifest deleted a minute ago
  // stays: a client re-pushing it finds it still there)
  const orphans = await pool.query<{ digest: string }>(
    "SELECT digest FROM hosted_orphans WHERE collected_at IS NULL AND since < $1",
    [cutoff],
  );
  const candidates = new Set(orphans.rows.map((o) => o.digest));
  if (dryRun)
    for (const l of stale) {
      const others = await pool.query<{ registry: string; repository: string }>(
        "SELECT registry, repository FROM hosted_links WHERE digest = $1",
        [l.digest],
      );
      if (others.rows.every((o) => staleKeys.has(key(o.registry, o.repository, l.digest))))
        candidates.add(l.digest);
    }
  const proxied = candidates.size > 0 ? await proxiedDigests(pool, bucket) : new Set<string>();

  for (const digest of candidates) {
    const d = parseDigest(digest);
    const usedElsewhere = (): "cache" | "inuse" | undefined => {
      if (proxied.has(digest) || meta.usedByProxy(digest)) return "cache";
      if (cache.isInUse(digest)) return "inuse";
      return undefined;
    };
    if (dryRun) {
      const o = usedElsewhere();
      if (o === "cache") r.keptForCache++;
      else if (o === "inuse") r.keptInUse++;
      else {
        r.blobsDeleted++;
        r.bytesFreed += (await bucket.size(d)) ?? 0;
      }
      continue;
    }
    const done = await inTransaction(pool, async (c) => {
      await c.query("SELECT pg_advisory_xact_lock($1, hashtext($2))", [GC_DIGEST_LOCK, digest]);
      const still = await c.query(
        "SELECT 1 FROM hosted_orphans WHERE digest = $1 AND collected_at IS NULL AND since < $2 FOR UPDATE",
        [digest, cutoff],
      );
      if (still.rows.length === 0) return { o: "linked" as const, size: 0 };
      const linked = await c.query("SELECT 1 FROM hosted_links WHERE digest = $1 LIMIT 1", [digest]);
      const o = linked.rows.length > 0 ? ("linked" as const) : usedElsewhere();
      if (o === "inuse") return { o, size: 0 };
      if (o !== undefined) {
        await c.query("DELETE FROM hosted_orphans WHERE digest = $1", [digest]);
        return { o, size: 0 };
      }
      // removed while the lock is held: a link waits for COMMIT, then finds the tombstone
      const size = (await bucket.size(d)) ?? 0;
      await bucket.remove(d);
      await c.query("UPDATE hosted_orphans SET collected_at = $2 WHERE digest = $1", [digest, now()]);
      return { o: "deleted" as const, size };
    });
    if (done.o === "deleted") {
      r.blobsDeleted++;
      r.bytesFreed += done.size;
      await cache.remove(digest).catch(() => {}); // this replica's disk copy; the others age out
    } else if (done.o === "cache") r.keptForCache++;
    else if (done.o === "inuse") r.keptInUse++;
  }
  if (!dryRun)
    await pool.query("DELETE FROM hosted_orphans WHERE collected_at IS NOT NULL AND collected_at < $1", [
      now() - TOMBSTONE_MS,
    ]);
  opts.log.info({ ...r, dryRun }, dryRun ? "shared hosted gc (dry run)" : "shared hosted gc done");
  return r;
}

/** Digests proxied tags name, and what their manifests (and an index's children) reference. */
async function proxiedDigests(pool: pg.Pool, bucket: SharedBlobStore): Promise<Set<string>> {
  const out = new Set<string>();
  const tags = await pool.query<{ digest: string }>("SELECT DISTINCT digest FROM proxy_tags");
  const todo = tags.rows.map((t) => t.digest);
  while (todo.length > 0) {
    const digest = todo.pop() as string;
    if (out.has(digest)) continue;
    out.add(digest);
    const body = await bucket.read(parseDigest(digest));
    if (!body) continue;
    const refs = referencedDigests(body);
    for (const b of refs.blobs) out.add(b);
    todo.push(...refs.manifests);
  }
  return out;
}
