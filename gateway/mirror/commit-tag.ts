// The one step of a sync that changes what the target serves, in a single SQLite transaction:
// link every copied blob and manifest into the target repository (after checking each file is
// still in the store: a gc or eviction may have run), keep the digest being replaced as a history
// tag, move the tag, prune history beyond `keep`, record the state. Either all of it commits or
// none of it does, so a failure at any point before leaves the target exactly as it was.
import { existsSync } from "node:fs";
import { WharfError } from "../../common/errors.ts";
import type { ContentCache } from "../cache/content-cache.ts";
import { parseDigest } from "../oci/digest.ts";
import type { HostedMeta } from "../registry/hosted/hosted-meta.ts";
import type { CopiedImage } from "./copy-image.ts";
import type { MirrorEntry, RepoName } from "./mirror-entries.ts";
import type { MirrorState, MirrorTagRecord } from "./mirror-state.ts";
import { historyTagName, historyToPrune } from "./tag-planner.ts";

export interface TagDeps {
  cache: ContentCache;
  meta: HostedMeta;
  state: MirrorState;
  now: () => number;
}

/** What a tag pointed at before a change. */
export interface Previous {
  digest: string;
  mediaType: string;
}

export function currentTarget(deps: TagDeps, target: RepoName, tag: string): Previous | undefined {
  return deps.meta.getTag(target.registry, target.repository, tag);
}

/** Links the copy and moves the tag. Returns the history tag made for the replaced digest, if any. */
export function commitCopy(
  deps: TagDeps,
  entry: MirrorEntry,
  tag: string,
  image: CopiedImage,
  record: MirrorTagRecord,
): { historyTag: string | undefined; pruned: string[] } {
  const { cache, meta, state } = deps;
  const { registry, repository } = entry.target;
  const now = deps.now();
  return meta.immediate(() => {
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
    const previous = currentTarget(deps, entry.target, tag);
    const historyTag =
      previous && previous.digest !== image.top.digest
        ? keepHistory(deps, entry, tag, previous, "sync", now)
        : undefined;
    meta.putTag(registry, repository, tag, image.top.digest, image.top.mediaType);
    state.putTag(record);
    const pruned = pruneHistory(deps, entry, tag);
    state.bump();
    return { historyTag, pruned };
  });
}

/** Inside a transaction: `previous` becomes a history tag (named by entry.historyTag). */
export function keepHistory(
  deps: TagDeps,
  entry: MirrorEntry,
  tag: string,
  previous: Previous,
  reason: string,
  now: number,
): string {
  const { registry, repository } = entry.target;
  const name = historyTagName(
    entry.historyTag,
    tag,
    now,
    previous.digest,
    (n) => n === tag || deps.meta.getTag(registry, repository, n) !== undefined,
  );
  deps.meta.putTag(registry, repository, name, previous.digest, previous.mediaType);
  deps.state.addHistory(entry.target, tag, {
    historyTag: name,
    digest: previous.digest,
    replacedAt: now,
    reason,
  });
  return name;
}

/** Inside a transaction: history beyond `keep` loses its tag (the content goes at `wharf gc`). */
export function pruneHistory(deps: TagDeps, entry: MirrorEntry, tag: string): string[] {
  const { registry, repository } = entry.target;
  const dropped: string[] = [];
  for (const h of historyToPrune(deps.state.history(entry.target, tag), entry.keep)) {
    // a history tag someone re-pointed by hand is theirs now: only ours is removed
    if (deps.meta.getTag(registry, repository, h.historyTag)?.digest === h.digest)
      deps.meta.deleteTag(registry, repository, h.historyTag);
    deps.state.dropHistory(entry.target, h.historyTag);
    dropped.push(h.historyTag);
  }
  return dropped;
}

function gone(digest: string): WharfError {
  return new WharfError("BLOB_UNKNOWN", `${digest} left the store before the tag could move; sync again`);
}
