// The fetch phase of a mirror sync: everything a manifest names is brought into the shared store
// through the cache (a manifest or blob already there is not fetched again; blob fills are the
// same single-flight fills the proxy uses), and held so eviction leaves it alone until the tag
// commits. Nothing is linked into the target here: commit-tag.ts does that in one transaction.
//
// Platforms: with `all`, the upstream index is kept byte for byte (same digest as upstream, so
// signatures and attestations that name it stay valid). With a list, wharf writes a new index
// holding only the selected platforms (plus attestations of those): a new digest, but every
// manifest the target serves is complete, which a hosted registry requires of every push.

import { WharfError } from "../../common/errors.ts";
import type { ContentCache } from "../cache/content-cache.ts";
import { type Digest, parseDigest, sha256Digest } from "../oci/digest.ts";
import { declaredMediaType } from "../oci/media-types.ts";
import { type CheckedManifest, checkManifest } from "../registry/hosted/manifest-check.ts";
import type { RemoteRegistry } from "../upstream/remote-registry.ts";

export interface CopiedManifest {
  digest: string;
  mediaType: string;
  body: Buffer;
  checked: CheckedManifest;
}

export interface CopiedImage {
  /** What the target tag will point at (the upstream digest, or a filtered index). */
  top: CopiedManifest;
  /** Children first, `top` last: the order in which they may be linked. */
  manifests: CopiedManifest[];
  blobs: Map<string, number>;
  platforms: string[];
  /** Bytes of all blobs and manifests. */
  size: number;
  /** Manifest GETs sent upstream (0 when everything was in the cache). */
  manifestGets: number;
  /** Blob bytes fetched upstream. */
  fetchedBytes: number;
  release(): void;
}

export interface CopyDeps {
  cache: ContentCache;
  remote: RemoteRegistry;
  repository: string;
  platforms: "all" | string[];
  /** Called as blobs arrive: bytes stored (fetched or found). */
  onBlob?: (bytes: number) => void;
  concurrency?: number;
}

interface IndexEntry {
  digest?: string;
  platform?: { os?: string; architecture?: string; variant?: string };
  annotations?: Record<string, string>;
}

export function platformName(p: IndexEntry["platform"]): string | undefined {
  if (!p?.os || !p.architecture) return undefined;
  return [p.os, p.architecture, p.variant].filter(Boolean).join("/");
}

/** "linux/arm64" matches linux/arm64/v8; "linux/arm/v7" only that variant. */
export function platformMatches(wanted: string, have: string | undefined): boolean {
  if (!have) return false;
  return have === wanted || have.startsWith(`${wanted}/`);
}

export async function copyImage(deps: CopyDeps, top: Digest): Promise<CopiedImage> {
  const { cache } = deps;
  const holds: (() => void)[] = [];
  const out: CopiedImage = {
    top: undefined as unknown as CopiedManifest,
    manifests: [],
    blobs: new Map(),
    platforms: [],
    size: 0,
    manifestGets: 0,
    fetchedBytes: 0,
    release: () => {
      for (const r of holds.splice(0)) r();
    },
  };
  const hold = (d: string) => holds.push(cache.hold(d));
  try {
    const root = await loadManifest(deps, top, out, hold);
    if (root.checked.children.length > 0) {
      let chosen = root;
      const doc = JSON.parse(root.body.toString("utf8")) as { manifests: IndexEntry[] };
      const kept = selectChildren(doc.manifests, deps.platforms);
      if (kept.length === 0)
        throw new WharfError(
          "MANIFEST_UNKNOWN",
          `no manifest of the index matches platforms ${String(deps.platforms)}`,
        );
      if (kept.length !== doc.manifests.length) chosen = await filteredIndex(deps, root, doc, kept, hold);
      for (const child of kept) {
        await copyTree(deps, parseDigest(child.digest as string), out, hold);
        const name = platformName(child.platform);
        if (name && !child.annotations?.["vnd.docker.reference.type"]) out.platforms.push(name);
      }
      out.manifests.push(chosen);
      out.size += chosen.body.length;
      out.top = chosen;
    } else {
      await copyBlobs(deps, root, out, hold);
      out.manifests.push(root);
      out.size += root.body.length;
      out.top = root;
      const p = await configPlatform(cache, root.checked.blobs[0]);
      if (p) out.platforms.push(p);
    }
    return out;
  } catch (e) {
    out.release();
    throw e;
  }
}

/** Children of an index to copy: all, or the selected platforms and the attestations naming them. */
function selectChildren(entries: IndexEntry[], platforms: "all" | string[]): IndexEntry[] {
  if (platforms === "all") return entries;
  const images = entries.filter((e) => platforms.some((p) => platformMatches(p, platformName(e.platform))));
  const keptDigests = new Set(images.map((e) => e.digest));
  return entries.filter(
    (e) => keptDigests.has(e.digest) || keptDigests.has(e.annotations?.["vnd.docker.reference.digest"]),
  );
}

async function filteredIndex(
  deps: CopyDeps,
  root: CopiedManifest,
  doc: { manifests: IndexEntry[] },
  kept: IndexEntry[],
  hold: (d: string) => void,
): Promise<CopiedManifest> {
  const body = Buffer.from(JSON.stringify({ ...doc, manifests: kept }));
  const digest = sha256Digest(body);
  hold(digest);
  await deps.cache.putManifest(parseDigest(digest), body, root.mediaType);
  return { digest, mediaType: root.mediaType, body, checked: checkManifest(body, root.mediaType) };
}

async function copyTree(
  deps: CopyDeps,
  d: Digest,
  out: CopiedImage,
  hold: (d: string) => void,
): Promise<void> {
  if (out.manifests.some((m) => m.digest === d.value)) return;
  const m = await loadManifest(deps, d, out, hold);
  for (const c of m.checked.children) await copyTree(deps, c, out, hold);
  await copyBlobs(deps, m, out, hold);
  out.manifests.push(m);
  out.size += m.body.length;
}

/** A manifest by digest: from the store, else one GET upstream (verified), then stored. */
async function loadManifest(
  deps: CopyDeps,
  d: Digest,
  out: CopiedImage,
  hold: (d: string) => void,
): Promise<CopiedManifest> {
  hold(d.value);
  const local = await deps.cache.readManifest(d);
  let body: Buffer;
  let mediaType: string;
  if (local) {
    body = local.body;
    mediaType = local.mediaType ?? declaredMediaType(body) ?? "";
  } else {
    const m = await deps.remote.getManifest(deps.repository, d.value, d);
    out.manifestGets++;
    body = m.body;
    mediaType = declaredMediaType(body) ?? m.mediaType;
    await deps.cache.putManifest(d, body, mediaType);
  }
  return { digest: d.value, mediaType, body, checked: checkManifest(body, mediaType) };
}

async function copyBlobs(
  deps: CopyDeps,
  m: CopiedManifest,
  out: CopiedImage,
  hold: (d: string) => void,
): Promise<void> {
  const todo = m.checked.blobs.filter((b) => !out.blobs.has(b.value));
  let next = 0;
  const worker = async () => {
    while (next < todo.length) {
      const d = todo[next++] as Digest;
      if (out.blobs.has(d.value)) continue;
      out.blobs.set(d.value, -1);
      hold(d.value);
      const { size, fetched } = await ensureBlob(deps, d);
      out.blobs.set(d.value, size);
      out.size += size;
      if (fetched) out.fetchedBytes += size;
      deps.onBlob?.(size);
    }
  };
  await Promise.all(Array.from({ length: Math.min(deps.concurrency ?? 4, todo.length) }, worker));
}

/** A blob in the store: found, or filled from upstream (joining a fill the proxy may be running). */
async function ensureBlob(deps: CopyDeps, d: Digest): Promise<{ size: number; fetched: boolean }> {
  const have = await deps.cache.blobSize(d);
  if (have !== undefined) return { size: have, fetched: false };
  const { fill } = deps.cache.fill(d, (signal) => deps.remote.getBlob(deps.repository, d, signal));
  return { size: await fill.done, fetched: true };
}

/** os/architecture[/variant] from an image config blob (already in the store). */
async function configPlatform(cache: ContentCache, config: Digest | undefined): Promise<string | undefined> {
  if (!config) return undefined;
  const size = await cache.store.size(config);
  if (size === undefined || size > 1024 * 1024) return undefined;
  try {
    const body = await cache.store.read(config);
    if (!body) return undefined;
    const c = JSON.parse(body.toString("utf8")) as { os?: string; architecture?: string; variant?: string };
    return platformName(c);
  } catch {
    return undefined;
  }
}
