// The one step that changes what a target serves (a sync's copy, a pin, a rollback), through the
// mirror store's changeTag: the tag's record is read under the store's lock, the digest being
// replaced becomes a history entry (and a history tag), the tag moves, history beyond `keep` is
// pruned. The hosted registry's records (links of every copied blob and manifest, after checking
// each file is still in the store; the tags) are written in the same step: one SQLite transaction
// on one node; with PostgreSQL, before its COMMIT. A failure before leaves the target as it was.
import { existsSync } from "node:fs";
import { WharfError } from "../../common/errors.ts";
import type { ContentCache } from "../cache/content-cache.ts";
import { parseDigest } from "../oci/digest.ts";
import type { HostedMeta } from "../registry/hosted/hosted-meta.ts";
import type { CopiedImage } from "./copy-image.ts";
import type { MirrorEntry, RepoName } from "./mirror-entries.ts";
import type { HistoryRecord, MirrorStore, MirrorTagRecord, TargetDigest } from "./mirror-store-api.ts";
import { historyTagName, historyToPrune } from "./tag-planner.ts";

export interface TagDeps {
  cache: ContentCache;
  meta: HostedMeta;
  store: MirrorStore;
  now: () => number;
}

/** What a tag pointed at before a change. */
export type Previous = TargetDigest;

/** What the tag points at: the store's record, else (state kept before sharing) the local tag. */
export async function currentTarget(
  deps: TagDeps,
  target: RepoName,
  tag: string,
): Promise<Previous | undefined> {
  const rec = await deps.store.getTag(target, tag);
  if (rec) return rec.current ?? undefined;
  return deps.meta.getTag(target.registry, target.repository, tag);
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
 * stored one (undefined: leave everything as it is). `links` runs first inside the local transaction.
 */
export async function moveTag(
  deps: TagDeps,
  entry: MirrorEntry,
  tag: string,
  opts: {
    to: Previous | undefined;
    reason: string;
    update: (rec: MirrorTagRecord | undefined, previous: Previous | undefined) => MirrorTagRecord | undefined;
    links?: () => void;
  },
): Promise<MoveResult> {
  const { registry, repository } = entry.target;
  const { meta } = deps;
  const localBefore = meta.getTag(registry, repository, tag);
  let kept: (HistoryRecord & { mediaType: string }) | undefined;
  let pruned: HistoryRecord[] = [];
  let moved = false;
  return deps.store.changeTag<MoveResult>(
    entry.target,
    tag,
    (snap) => {
      kept = undefined;
      const previous = snap.record ? (snap.record.current ?? undefined) : localBefore;
      const base = opts.update(snap.record, previous);
      const result = { previous, historyTag: undefined as string | undefined, pruned: [] as string[] };
      if (!base) return { result: { ...result, written: false } };
      const now = deps.now();
      moved = opts.to !== undefined && previous?.digest !== opts.to.digest;
      if (moved && previous) {
        const taken = (n: string) =>
          n === tag ||
          meta.getTag(registry, repository, n) !== undefined ||
          snap.history.some((h) => h.historyTag === n);
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
      opts.links?.();
      if (kept) meta.putTag(registry, repository, kept.historyTag, kept.digest, kept.mediaType);
      // a history tag someone re-pointed by hand is theirs now: only ours is removed
      for (const h of pruned)
        if (meta.getTag(registry, repository, h.historyTag)?.digest === h.digest)
          meta.deleteTag(registry, repository, h.historyTag);
      const cur = change.record.current;
      if (moved && cur) meta.putTag(registry, repository, tag, cur.digest, cur.mediaType);
    },
  );
}

/** Links the copy into the target and moves the tag to it. */
export function commitCopy(
  deps: TagDeps,
  entry: MirrorEntry,
  tag: string,
  image: CopiedImage,
  record: Omit<MirrorTagRecord, "current">,
): Promise<MoveResult> {
  const { cache, meta } = deps;
  const { registry, repository } = entry.target;
  return moveTag(deps, entry, tag, {
    to: image.top,
    reason: "sync",
    update: () => ({ ...record, current: image.top }),
    links: () => {
      const now = deps.now();
      for (const [digest, size] of image.blobs) {
        if (!existsSync(cache.store.pathOf(parseDigest(digest)))) throw gone(digest);
        cache.db.putBlob(digest, size, null, now);
        meta.link(registry, repository, digest, "blob", now);
      }
      for (const m of image.manifests) {
        if (!existsSync(cache.store.pathOf(parseDigest(m.digest)))) throw gone(m.digest);
        cache.db.putBlob(m.digest, m.body.length, m.mediaType, now);
        meta.link(registry, repository, m.digest, "manifest", now);
        if (m.checked.subject)
          meta.putReferrer(registry, repository, m.checked.subject.value, {
            digest: m.digest,
            mediaType: m.mediaType,
            size: m.body.length,
            artifactType: m.checked.artifactType ?? null,
            annotations: m.checked.annotations ?? null,
          });
      }
    },
  });
}

function gone(digest: string): WharfError {
  return new WharfError("BLOB_UNKNOWN", `${digest} left the store before the tag could move; sync again`);
}
