// `wharf mirror sync` and the server's scheduled syncs: for each tag of an entry, a HEAD of the
// source (Docker Hub counts GETs, not HEADs), and only when the digest differs from what was last
// copied, the copy (copy-image.ts) and the tag move (commit-tag.ts). A pinned tag is checked but
// never moved. Each tag succeeds or fails on its own; an entry fails when any of its tags did.

import { isWharfError } from "../../common/errors.ts";
import type { ContentCache } from "../cache/content-cache.ts";
import type { Logger } from "../log.ts";
import { parseDigest } from "../oci/digest.ts";
import type { RemoteRegistry } from "../upstream/remote-registry.ts";
import { commitCopy, type Previous, type TagDeps } from "./commit-tag.ts";
import { copyImage } from "./copy-image.ts";
import { type MirrorEntry, showRepo } from "./mirror-entries.ts";
import type { MirrorStore } from "./mirror-store-api.ts";
import { needsTagList, parsePattern, selectTags, type TagPattern } from "./tag-planner.ts";

/** One line of the report; the field names are what `--json` promises (issue 15). */
export interface TagReport {
  source: string;
  target: string;
  tag: string;
  previous: string | null;
  current: string | null;
  changed: boolean;
  pinned: boolean;
  error: string | null;
  /** What upstream points at now (differs from `current` for a pinned tag upstream moved). */
  upstream: string | null;
  size?: number;
  platforms?: string[];
  historyTag?: string;
  note?: string;
}

export interface EntryReport {
  entry: string;
  source: string;
  target: string;
  ok: boolean;
  error: string | null;
  tags: TagReport[];
}

export interface SyncProgress {
  entryStarted(entry: MirrorEntry, tags: number): void;
  bytes(n: number): void;
  tagDone(report: TagReport): void;
  entryDone(report: EntryReport): void;
}

export interface SyncDeps {
  cache: ContentCache;
  /** Where history, pins and runs live (SQLite, or PostgreSQL shared by replicas). */
  store: MirrorStore;
  remoteFor: (registry: string) => RemoteRegistry;
  log: Logger;
  now?: () => number;
  dryRun?: boolean;
  progress?: SyncProgress;
}

const TAG_PAGE = 1000;
const MAX_TAG_PAGES = 100;

export function entryId(entry: MirrorEntry): string {
  return showRepo(entry.target);
}

export async function syncEntry(deps: SyncDeps, entry: MirrorEntry): Promise<EntryReport> {
  const now = deps.now ?? Date.now;
  const store = deps.store;
  const tagDeps: TagDeps = { cache: deps.cache, store, now };
  const report: EntryReport = {
    entry: entryId(entry),
    source: showRepo(entry.source),
    target: showRepo(entry.target),
    ok: true,
    error: null,
    tags: [],
  };
  try {
    if (!deps.dryRun) await store.runStarted(report.entry, now());
    const remote = deps.remoteFor(entry.source.registry);
    const patterns = entry.tags.map(parsePattern).filter((p): p is TagPattern => p !== undefined);
    const listed = needsTagList(patterns) ? await listAllTags(remote, entry.source.repository) : [];
    const tags = selectTags(patterns, listed);
    deps.progress?.entryStarted(entry, tags.length);
    for (const tag of tags) {
      const r = await syncTag(deps, tagDeps, remote, entry, tag);
      report.tags.push(r);
      deps.progress?.tagDone(r);
    }
    const failed = report.tags.filter((t) => t.error !== null);
    if (failed.length > 0) {
      report.ok = false;
      report.error = `${failed.length} tag(s) failed: ${failed.map((t) => t.tag).join(", ")}`;
    }
  } catch (e) {
    report.ok = false;
    report.error = (e as Error).message;
  }
  if (!deps.dryRun)
    await store
      .runEnded(report.entry, now(), report.tags.filter((t) => t.changed).length, report.error)
      .catch((e: Error) => {
        report.ok = false;
        report.error ??= `could not record the run: ${e.message}`;
      });
  deps.progress?.entryDone(report);
  deps.log.info(
    {
      entry: report.entry,
      ok: report.ok,
      changed: report.tags.filter((t) => t.changed).length,
      err: report.error,
    },
    "mirror sync finished",
  );
  return report;
}

async function syncTag(
  deps: SyncDeps,
  tagDeps: TagDeps,
  remote: RemoteRegistry,
  entry: MirrorEntry,
  tag: string,
): Promise<TagReport> {
  const { store } = tagDeps;
  let prev: Previous | undefined;
  const r: TagReport = {
    source: showRepo(entry.source),
    target: showRepo(entry.target),
    tag,
    previous: null,
    current: null,
    changed: false,
    pinned: false,
    error: null,
    upstream: null,
  };
  try {
    const rec = await store.getTag(entry.target, tag);
    // no record yet: what the target holds from before (a tag pushed by hand, state kept before sharing)
    prev = rec
      ? (rec.current ?? undefined)
      : await store.targets.getTag(entry.target.registry, entry.target.repository, tag);
    r.previous = prev?.digest ?? null;
    r.current = r.previous;
    let upstream = await remote.headManifest(entry.source.repository, tag);
    if (upstream === undefined) {
      // no Docker-Content-Digest on the HEAD: the GET (counted) tells, and its body is kept
      const m = await remote.getManifest(entry.source.repository, tag);
      upstream = m.digest;
      if (!deps.dryRun) await deps.cache.putManifest(parseDigest(m.digest), m.body, m.mediaType);
    }
    r.upstream = upstream;
    const at = (deps.now ?? Date.now)();
    if (rec?.pinnedDigest) {
      r.pinned = true;
      r.note =
        upstream === rec.sourceDigest
          ? `pinned at ${rec.pinnedDigest}`
          : `pinned at ${rec.pinnedDigest}: upstream moved to ${upstream}, not copied (wharf mirror unpin to follow again)`;
      if (!deps.dryRun) {
        await store.noteChecked(entry.target, tag, upstream, at);
        await store.bump();
      }
      return r;
    }
    // unchanged, unless a shared target does not hold it yet (synced while targets were per replica)
    if (prev && rec?.sourceDigest === upstream && (await targetHolds(store, entry, tag, prev))) {
      if (!deps.dryRun) await store.noteChecked(entry.target, tag, upstream, at);
      return r;
    }
    if (deps.dryRun) {
      r.changed = true;
      r.note = `would copy ${upstream}`;
      return r;
    }
    const image = await copyImage(
      {
        cache: deps.cache,
        remote,
        repository: entry.source.repository,
        platforms: entry.platforms,
        onBlob: (n) => deps.progress?.bytes(n),
      },
      parseDigest(upstream),
    );
    try {
      const done = await commitCopy(tagDeps, entry, tag, image, {
        target: entry.target,
        tag,
        source: entry.source,
        sourceDigest: upstream,
        upstreamDigest: upstream,
        pinnedDigest: null,
        pinnedAt: null,
        syncedAt: at,
        checkedAt: at,
        size: image.size,
        platforms: image.platforms,
      });
      if (done.historyTag) r.historyTag = done.historyTag;
    } finally {
      image.release();
    }
    r.current = image.top.digest;
    r.changed = prev?.digest !== image.top.digest;
    r.size = image.size;
    r.platforms = image.platforms;
  } catch (e) {
    r.error = isWharfError(e, "MANIFEST_UNKNOWN")
      ? `${tag} not found in ${showRepo(entry.source)}: ${(e as Error).message}`
      : (e as Error).message;
    deps.log.warn({ entry: entryId(entry), tag, err: r.error }, "mirror tag failed; target unchanged");
  }
  return r;
}

async function targetHolds(
  store: MirrorStore,
  entry: MirrorEntry,
  tag: string,
  prev: Previous,
): Promise<boolean> {
  if (!store.targetsShared) return true; // one node: the tag moved with the record, in one transaction
  const t = await store.targets.getTag(entry.target.registry, entry.target.repository, tag);
  return t?.digest === prev.digest;
}

/** Every tag of the source, following `last` pagination (distribution spec, "Listing Tags"). */
async function listAllTags(remote: RemoteRegistry, repository: string): Promise<string[]> {
  const all: string[] = [];
  let last: string | undefined;
  for (let page = 0; page < MAX_TAG_PAGES; page++) {
    const p = await remote.tags(repository, { n: TAG_PAGE, ...(last !== undefined && { last }) });
    all.push(...p.tags);
    if (!p.link || p.tags.length === 0) break;
    last = p.tags.at(-1);
  }
  return all;
}
