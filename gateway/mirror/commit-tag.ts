// The one step that changes what a target serves (a sync's copy, a pin, a rollback), through the
// mirror store's changeTag: the tag's record is read under the store's lock, the digest being
// replaced becomes a history entry (and a history tag), the tag moves, history beyond `keep` is
// pruned. The hosted registry's records (links of every copied blob and manifest, after checking
// each file is still in the store; the tags) are written in the same step: one SQLite transaction
// on one node; in a replica set on a bucket, one PostgreSQL transaction with the shared hosted
// index (the content is put in the bucket first). A failure before leaves the target as it was.
import { existsSync } from "node:fs";
import { WharfError } from "../../common/errors.ts";
import type { ContentCache } from "../cache/content-cache.ts";
import { uploadToShared } from "../cache/shared-blobs.ts";
import { parseDigest } from "../oci/digest.ts";
import type { CopiedImage } from "./copy-image.ts";
import type { MirrorEntry, RepoName } from "./mirror-entries.ts";
import type {
  HistoryRecord,
  MirrorStore,
  MirrorTagRecord,
  TargetDigest,
  TargetWrites,
} from "./mirror-store-api.ts";
import { historyTagName, historyToPrune } from "./tag-planner.ts";

export interface TagDeps {
  cache: ContentCache;
  store: MirrorStore;
  now: () => number;
}

/** What a tag pointed at before a change. */
export type Previous = TargetDigest;

/** What the tag points at: the store's record, else (state kept before sharing) the hosted tag. */
export async function currentTarget(
  deps: TagDeps,
  target: RepoName,
  tag: string,
): Promise<Previous | undefined> {
  const rec = await deps.store.getTag(target, tag);
  if (rec) return rec.current ?? undefined;
  return deps.store.targets.getTag(target.registry, target.repository, tag);
}

export interface MoveResult {
  /** What the tag pointed at before (undefined: it did not exist). */
  previous: Previous | undefined;
  /** The history tag made for the replaced digest, if the tag moved. */
  historyTag: string | undefined;
  pruned: string[];
  /** `update`'s verdict: false when it returned undefined (nothing written). */
  written: boolean;
}

/**
 * Moves the tag to `to` (if given and elsewhere now) and writes the record `update` makes from the
 * stored one (undefined: leave everything as it is). `links` runs first inside the transaction and
 * adds the links (and referrers) the change needs.
 */
export async function moveTag(
  deps: TagDeps,
  entry: MirrorEntry,
  tag: string,
  opts: {
    to: Previous | undefined;
    reason: string;
    update: (rec: MirrorTagRecord | undefined, previous: Previous | undefined) => MirrorTagRecord | undefined;
    links?: (w: TargetWrites) => void;
  },
): Promise<MoveResult> {
  let kept: (HistoryRecord & { mediaType: string }) | undefined;
  let pruned: HistoryRecord[] = [];
  let moved = false;
  let hostedNow: TargetDigest | undefined;
  return deps.store.changeTag<MoveResult>(
    entry.target,
    tag,
    (snap) => {
      kept = undefined;
      hostedNow = snap.hostedTag(tag);
      const previous = snap.record ? (snap.record.current ?? undefined) : snap.hostedTag(tag);
      const base = opts.update(snap.record, previous);
      const result = { previous, historyTag: undefined as string | undefined, pruned: [] as string[] };
      if (!base) return { result: { ...result, written: false } };
      const now = deps.now();
      moved = opts.to !== undefined && previous?.digest !== opts.to.digest;
      if (moved && previous) {
        const taken = (n: string) =>
          n === tag || snap.hostedTag(n) !== undefined || snap.history.some((h) => h.historyTag === n);
        const name = historyTagName(entry.historyTag, tag, now, previous.digest, taken);
        kept = { historyTag: name, replacedAt: now, reason: opts.reason, ...previous };
      }
      pruned = moved ? historyToPrune(kept ? [kept, ...snap.history] : snap.history, entry.keep) : [];
      const current = moved ? (opts.to ?? null) : (previous ?? null);
      const addHistory = kept
        ? [{ historyTag: kept.historyTag, digest: kept.digest, replacedAt: now, reason: opts.reason }]
        : [];
      return {
        change: { record: { ...base, current }, addHistory, dropHistory: pruned.map((h) => h.historyTag) },
        result: {
          ...result,
          historyTag: kept?.historyTag,
          pruned: pruned.map((h) => h.historyTag),
          written: true,
        },
      };
    },
    (change) => {
      const w: TargetWrites = { now: deps.now(), links: [], referrers: [], tags: [], untags: [] };
      opts.links?.(w);
      if (kept) w.tags.push({ tag: kept.historyTag, to: { digest: kept.digest, mediaType: kept.mediaType } });
      // a history tag someone re-pointed by hand is theirs now: only ours is removed
      for (const h of pruned) w.untags.push({ tag: h.historyTag, digest: h.digest });
      const cur = change.record.current;
      // also when the hosted tag lags the record (a target shared only since this version)
      if (cur && (moved || hostedNow?.digest !== cur.digest)) w.tags.push({ tag, to: cur });
      return w;
    },
  );
}

/** Links the copy into the target and moves the tag to it. */
export async function commitCopy(
  deps: TagDeps,
  entry: MirrorEntry,
  tag: string,
  image: CopiedImage,
  record: Omit<MirrorTagRecord, "current">,
): Promise<MoveResult> {
  const { cache } = deps;
  const shared = deps.store.targetsShared;
  // a shared target names content every replica reads from the bucket: put there what a fill could
  // not share (the bucket was briefly down); gc cannot take it before the link (pg-hosted-index.ts)
  if (shared) {
    for (const [digest] of image.blobs) await ensureInBucket(cache, digest);
    for (const m of image.manifests) await ensureInBucket(cache, m.digest);
  }
  return moveTag(deps, entry, tag, {
    to: image.top,
    reason: "sync",
    update: () => ({ ...record, current: image.top }),
    links: (w) => {
      const here = (digest: string) => existsSync(cache.store.pathOf(parseDigest(digest)));
      for (const [digest, size] of image.blobs) {
        // on one node the file is the content: gc (same transaction lock) may have taken it
        if (!shared && !here(digest)) throw gone(digest);
        if (here(digest)) cache.db.putBlob(digest, size, null, w.now);
        w.links.push({ digest, kind: "blob", size });
      }
      for (const m of image.manifests) {
        if (!shared && !here(m.digest)) throw gone(m.digest);
        if (here(m.digest)) cache.db.putBlob(m.digest, m.body.length, m.mediaType, w.now);
        w.links.push({ digest: m.digest, kind: "manifest", size: m.body.length });
        if (m.checked.subject)
          w.referrers.push({
            subject: m.checked.subject.value,
            record: {
              digest: m.digest,
              mediaType: m.mediaType,
              size: m.body.length,
              artifactType: m.checked.artifactType ?? null,
              annotations: m.checked.annotations ?? null,
            },
          });
      }
    },
  });
}

async function ensureInBucket(cache: ContentCache, digest: string): Promise<void> {
  const d = parseDigest(digest);
  const shared = cache.shared;
  if (!shared || (await shared.size(d)) !== undefined) return;
  if (!existsSync(cache.store.pathOf(d))) throw gone(digest);
  await uploadToShared(shared, d, cache.store.pathOf(d));
}

function gone(digest: string): WharfError {
  return new WharfError("BLOB_UNKNOWN", `${digest} left the store before the tag could move; sync again`);
}
