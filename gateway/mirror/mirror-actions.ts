// pin, unpin, rollback and the read-only views (ls, history): what the CLI calls, safe beside a
// running server (each change is one transaction and bumps the generation servers poll).
//
// Semantics: a pin holds the tag at a digest until unpinned (sync reports upstream's moves). A
// rollback moves the tag to an earlier digest at once and keeps the digest it replaces as a
// history entry (so it can be rolled forward); it holds until upstream publishes a new digest.

import { WharfError } from "../../common/errors.ts";
import type { ContentCache } from "../cache/content-cache.ts";
import { looksLikeDigest, parseDigest } from "../oci/digest.ts";
import { declaredMediaType } from "../oci/media-types.ts";
import { HostedMeta } from "../registry/hosted/hosted-meta.ts";
import { currentTarget, keepHistory, type Previous, pruneHistory, type TagDeps } from "./commit-tag.ts";
import { type MirrorEntry, selectEntries, showRepo } from "./mirror-entries.ts";
import { type HistoryRecord, MirrorState, type MirrorTagRecord } from "./mirror-state.ts";

export interface TagAddress {
  entry: MirrorEntry;
  tag: string;
}

/** "registry.internal/library/alpine:3.20" (or the source's name) → its entry and tag. */
export function parseTagAddress(entries: MirrorEntry[], text: string): TagAddress {
  const colon = text.lastIndexOf(":");
  if (colon <= text.lastIndexOf("/") || colon === text.length - 1)
    throw new WharfError(
      "CONFIG_INVALID",
      `expected <target>:<tag>, such as registry.internal/library/alpine:3.20`,
    );
  const name = text.slice(0, colon);
  const { found } = selectEntries(entries, [name]);
  const entry = found[0];
  if (!entry) throw new WharfError("CONFIG_INVALID", `${name} is not the target or source of a mirror entry`);
  return { entry, tag: text.slice(colon + 1) };
}

export function tagDeps(cache: ContentCache, now: () => number = Date.now): TagDeps {
  return { cache, meta: new HostedMeta(cache.db), state: new MirrorState(cache.db), now };
}

export interface TagView {
  target: string;
  tag: string;
  current: string | null;
  record: MirrorTagRecord | undefined;
  history: HistoryRecord[];
}

export function tagView(deps: TagDeps, a: TagAddress): TagView {
  return {
    target: showRepo(a.entry.target),
    tag: a.tag,
    current: currentTarget(deps, a.entry.target, a.tag)?.digest ?? null,
    record: deps.state.getTag(a.entry.target, a.tag),
    history: deps.state.history(a.entry.target, a.tag),
  };
}

/** A digest or a history tag of this target, as something the tag may point at. */
function resolveTo(deps: TagDeps, a: TagAddress, to: string): Previous {
  const { registry, repository } = a.entry.target;
  if (looksLikeDigest(to)) {
    if (deps.meta.linkKind(registry, repository, to) !== "manifest")
      throw new WharfError("MANIFEST_UNKNOWN", `${to} is not a manifest in ${showRepo(a.entry.target)}`);
    const rec = deps.cache.db.getBlob(to);
    return { digest: to, mediaType: rec?.mediaType ?? "" };
  }
  const t = deps.meta.getTag(registry, repository, to);
  if (!t)
    throw new WharfError(
      "MANIFEST_UNKNOWN",
      `${to} is neither a digest nor a tag of ${showRepo(a.entry.target)}`,
    );
  return t;
}

async function withMediaType(deps: TagDeps, p: Previous): Promise<Previous> {
  if (p.mediaType) return p;
  const m = await deps.cache.readManifest(parseDigest(p.digest));
  const t = m && (m.mediaType ?? declaredMediaType(m.body));
  if (!t) throw new WharfError("MANIFEST_UNKNOWN", `${p.digest} is not in the store`);
  return { digest: p.digest, mediaType: t };
}

function recordOf(deps: TagDeps, a: TagAddress): MirrorTagRecord {
  return (
    deps.state.getTag(a.entry.target, a.tag) ?? {
      target: a.entry.target,
      tag: a.tag,
      source: a.entry.source,
      sourceDigest: null,
      upstreamDigest: null,
      pinnedDigest: null,
      pinnedAt: null,
      syncedAt: null,
      checkedAt: null,
      size: null,
      platforms: [],
    }
  );
}

/** Moves the tag to `to` (keeping the replaced digest as history) inside the caller's transaction. */
function moveTag(deps: TagDeps, a: TagAddress, to: Previous, reason: string): string | undefined {
  const { registry, repository } = a.entry.target;
  const cur = currentTarget(deps, a.entry.target, a.tag);
  if (cur?.digest === to.digest) return undefined;
  const kept = cur ? keepHistory(deps, a.entry, a.tag, cur, reason, deps.now()) : undefined;
  deps.meta.putTag(registry, repository, a.tag, to.digest, to.mediaType);
  pruneHistory(deps, a.entry, a.tag);
  return kept;
}

export async function pin(
  deps: TagDeps,
  a: TagAddress,
  to?: string,
): Promise<{ digest: string; historyTag?: string }> {
  const cur = currentTarget(deps, a.entry.target, a.tag);
  const dest = to !== undefined ? await withMediaType(deps, resolveTo(deps, a, to)) : cur;
  if (!dest)
    throw new WharfError(
      "MANIFEST_UNKNOWN",
      `${showRepo(a.entry.target)}:${a.tag} does not exist yet: sync it first`,
    );
  return deps.meta.immediate(() => {
    const historyTag = moveTag(deps, a, dest, "pin");
    deps.state.putTag({ ...recordOf(deps, a), pinnedDigest: dest.digest, pinnedAt: deps.now() });
    deps.state.bump();
    return { digest: dest.digest, ...(historyTag && { historyTag }) };
  });
}

export function unpin(deps: TagDeps, a: TagAddress): boolean {
  return deps.meta.immediate(() => {
    const rec = deps.state.getTag(a.entry.target, a.tag);
    if (!rec?.pinnedDigest) return false;
    // forget what was last copied: the next sync compares with upstream afresh and follows it
    deps.state.putTag({ ...rec, pinnedDigest: null, pinnedAt: null, sourceDigest: null });
    deps.state.bump();
    return true;
  });
}

/** Moves the tag back (default: the newest history entry with another digest). */
export async function rollback(
  deps: TagDeps,
  a: TagAddress,
  to?: string,
): Promise<{ from: string | null; to: string; historyTag?: string }> {
  const cur = currentTarget(deps, a.entry.target, a.tag);
  let dest: Previous;
  if (to !== undefined) dest = resolveTo(deps, a, to);
  else {
    const h = deps.state.history(a.entry.target, a.tag).find((x) => x.digest !== cur?.digest);
    if (!h)
      throw new WharfError(
        "MANIFEST_UNKNOWN",
        `${showRepo(a.entry.target)}:${a.tag} has no earlier digest to roll back to`,
      );
    dest = resolveTo(deps, a, h.historyTag);
  }
  dest = await withMediaType(deps, dest);
  return deps.meta.immediate(() => {
    const historyTag = moveTag(deps, a, dest, "rollback");
    const rec = recordOf(deps, a);
    // a pinned tag stays pinned, now at the digest rolled back to
    deps.state.putTag({ ...rec, ...(rec.pinnedDigest && { pinnedDigest: dest.digest }) });
    deps.state.bump();
    return { from: cur?.digest ?? null, to: dest.digest, ...(historyTag && { historyTag }) };
  });
}
