// pin, unpin, rollback and the read-only views (ls, history): what the CLI calls, safe beside a
// running server and, with a shared store, from any replica (each change is one transaction of
// the mirror store and bumps the generation servers poll).
//
// Semantics: a pin holds the tag at a digest until unpinned (sync reports upstream's moves). A
// rollback moves the tag to an earlier digest at once and keeps the digest it replaces as a
// history entry (so it can be rolled forward); it holds until upstream publishes a new digest.

import { WharfError } from "../../common/errors.ts";
import type { ContentCache } from "../cache/content-cache.ts";
import { looksLikeDigest, parseDigest } from "../oci/digest.ts";
import { declaredMediaType } from "../oci/media-types.ts";
import { currentTarget, moveTag, type Previous, type TagDeps } from "./commit-tag.ts";
import { type MirrorEntry, selectEntries, showRepo } from "./mirror-entries.ts";
import type { HistoryRecord, MirrorStore, MirrorTagRecord } from "./mirror-store-api.ts";

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

export function tagDeps(cache: ContentCache, store: MirrorStore, now: () => number = Date.now): TagDeps {
  return { cache, store, now };
}

export interface TagView {
  target: string;
  tag: string;
  current: string | null;
  record: MirrorTagRecord | undefined;
  history: HistoryRecord[];
}

export async function tagView(deps: TagDeps, a: TagAddress): Promise<TagView> {
  return {
    target: showRepo(a.entry.target),
    tag: a.tag,
    current: (await currentTarget(deps, a.entry.target, a.tag))?.digest ?? null,
    record: await deps.store.getTag(a.entry.target, a.tag),
    history: await deps.store.history(a.entry.target, a.tag),
  };
}

/** A digest or a history tag of this target, as something the tag may point at. */
async function resolveTo(deps: TagDeps, a: TagAddress, to: string): Promise<Previous> {
  const { registry, repository } = a.entry.target;
  const known = await deps.store.history(a.entry.target, a.tag);
  if (looksLikeDigest(to)) {
    // linked here, or (a replica set) a digest the tag pointed at, which another replica linked
    const current = (await deps.store.getTag(a.entry.target, a.tag))?.current;
    if (
      (await deps.store.targets.linkKind(registry, repository, to)) !== "manifest" &&
      !known.some((h) => h.digest === to) &&
      current?.digest !== to
    )
      throw new WharfError("MANIFEST_UNKNOWN", `${to} is not a manifest in ${showRepo(a.entry.target)}`);
    const rec = deps.cache.db.getBlob(to);
    return { digest: to, mediaType: rec?.mediaType ?? "" };
  }
  const h = known.find((x) => x.historyTag === to);
  const t = await deps.store.targets.getTag(registry, repository, to);
  if (h) return { digest: h.digest, mediaType: t?.digest === h.digest ? t.mediaType : "" };
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

function blankRecord(a: TagAddress): MirrorTagRecord {
  return {
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
    current: null,
  };
}

export async function pin(
  deps: TagDeps,
  a: TagAddress,
  to?: string,
): Promise<{ digest: string; historyTag?: string }> {
  const cur = await currentTarget(deps, a.entry.target, a.tag);
  const dest = to !== undefined ? await withMediaType(deps, await resolveTo(deps, a, to)) : cur;
  if (!dest)
    throw new WharfError(
      "MANIFEST_UNKNOWN",
      `${showRepo(a.entry.target)}:${a.tag} does not exist yet: sync it first`,
    );
  const r = await moveTag(deps, a.entry, a.tag, {
    to: dest,
    reason: "pin",
    update: (rec) => ({ ...(rec ?? blankRecord(a)), pinnedDigest: dest.digest, pinnedAt: deps.now() }),
  });
  return { digest: dest.digest, ...(r.historyTag && { historyTag: r.historyTag }) };
}

export async function unpin(deps: TagDeps, a: TagAddress): Promise<boolean> {
  const r = await moveTag(deps, a.entry, a.tag, {
    to: undefined,
    reason: "unpin",
    // forget what was last copied: the next sync compares with upstream afresh and follows it
    update: (rec) =>
      rec?.pinnedDigest ? { ...rec, pinnedDigest: null, pinnedAt: null, sourceDigest: null } : undefined,
  });
  return r.written;
}

/** Moves the tag back (default: the newest history entry with another digest). */
export async function rollback(
  deps: TagDeps,
  a: TagAddress,
  to?: string,
): Promise<{ from: string | null; to: string; historyTag?: string }> {
  const cur = await currentTarget(deps, a.entry.target, a.tag);
  let dest: Previous;
  if (to !== undefined) dest = await resolveTo(deps, a, to);
  else {
    const h = (await deps.store.history(a.entry.target, a.tag)).find((x) => x.digest !== cur?.digest);
    if (!h)
      throw new WharfError(
        "MANIFEST_UNKNOWN",
        `${showRepo(a.entry.target)}:${a.tag} has no earlier digest to roll back to`,
      );
    dest = await resolveTo(deps, a, h.historyTag);
  }
  const final = await withMediaType(deps, dest);
  const r = await moveTag(deps, a.entry, a.tag, {
    to: final,
    reason: "rollback",
    update: (rec) => {
      const base = rec ?? blankRecord(a);
      // a pinned tag stays pinned, now at the digest rolled back to
      return { ...base, ...(base.pinnedDigest && { pinnedDigest: final.digest }) };
    },
  });
  return {
    from: r.previous?.digest ?? null,
    to: final.digest,
    ...(r.historyTag && { historyTag: r.historyTag }),
  };
}
