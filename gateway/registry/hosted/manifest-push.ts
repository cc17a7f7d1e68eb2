// Manifest PUT for hosted registries (OCI distribution spec, "Pushing Manifests"): validate, check
// that every blob and child manifest it names exists (MANIFEST_BLOB_UNKNOWN naming the digest),
// store the body under its digest, then record link, tag and referrer in one transaction.
// On one node that transaction first re-checks the files (a concurrent gc may have taken them):
// after a crash at any point a tag names a stored manifest and a manifest names stored blobs.
// In a replica set (`shared`) content must be in the bucket before a record names it, so that
// every replica can serve what the index says is there.
import { existsSync } from "node:fs";
import { WharfError } from "../../../common/errors.ts";
import type { ContentCache } from "../../cache/content-cache.ts";
import { uploadToShared } from "../../cache/shared-blobs.ts";
import type { Logger } from "../../log.ts";
import { type Digest, digestOf, parseDigest, sha256Digest } from "../../oci/digest.ts";
import type { Reference } from "../../oci/reference.ts";
import type { HostedIndex } from "../../store/hosted-index-api.ts";
import type { PushedManifest } from "../registry.ts";
import { type CheckedManifest, checkManifest } from "./manifest-check.ts";

export interface PushDeps {
  registry: string;
  cache: ContentCache;
  index: HostedIndex;
  /** Content lives in the bucket every replica shares (cache.shared), not on this disk only. */
  shared: boolean;
  log: Logger;
  now: () => number;
}

class ContentGone extends Error {}

export async function pushManifest(
  deps: PushDeps,
  repository: string,
  ref: Reference,
  body: Buffer,
  contentType: string,
): Promise<PushedManifest> {
  const { cache } = deps;
  const m = checkManifest(body, contentType);
  let digest: Digest;
  if (ref.kind === "digest") {
    digest = ref.digest;
    if (digestOf(digest, body) !== digest.value)
      throw new WharfError("DIGEST_INVALID", "manifest body does not match the digest in the reference", {
        detail: { digest: digest.value },
      });
  } else digest = parseDigest(sha256Digest(body));
  const needed = [...m.blobs, ...m.children];
  // Held: this process's evictor and gc leave them alone until the records are written.
  const releases = [digest, ...needed].map((d) => cache.hold(d.value));
  try {
    if (deps.shared) {
      for (const d of needed) await assertShared(deps, d);
      await storeShared(deps, digest, body, m.mediaType);
      await deps.index.recordManifest(recordOf(deps, repository, ref, digest, body, m));
    } else {
      for (const d of needed) await assertPresent(deps, repository, d);
      // A gc sweeping between our write and our transaction can take the manifest file: write again.
      for (let attempt = 0; ; attempt++) {
        if ((await cache.store.size(digest)) === undefined)
          await cache.putManifest(digest, body, m.mediaType);
        try {
          await deps.index.recordManifest(recordOf(deps, repository, ref, digest, body, m), () =>
            assertStillOnDisk(deps, digest, body, m),
          );
          break;
        } catch (e) {
          if (!(e instanceof ContentGone) || attempt >= 2) throw e;
        }
      }
    }
  } finally {
    for (const r of releases) r();
  }
  deps.log.debug({ repository, digest: digest.value, mediaType: m.mediaType }, "manifest pushed");
  return { digest: digest.value, ...(m.subject ? { subject: m.subject.value } : {}) };
}

function recordOf(
  deps: PushDeps,
  repository: string,
  ref: Reference,
  digest: Digest,
  body: Buffer,
  m: CheckedManifest,
) {
  return {
    registry: deps.registry,
    repository,
    digest: digest.value,
    mediaType: m.mediaType,
    size: body.length,
    // Re-linking refreshes the links' time: gc's grace then protects what this manifest names.
    blobs: m.blobs.map((d) => d.value),
    children: m.children.map((d) => d.value),
    ...(ref.kind === "tag" && { tag: ref.tag }),
    ...(m.subject && { subject: m.subject.value }),
    artifactType: m.artifactType ?? null,
    annotations: m.annotations ?? null,
    now: deps.now(),
  };
}

/** Inside the transaction (one node): everything the manifest names is still on disk. */
function assertStillOnDisk(deps: PushDeps, digest: Digest, body: Buffer, m: CheckedManifest): void {
  const { cache } = deps;
  if (!existsSync(cache.store.pathOf(digest))) throw new ContentGone();
  for (const d of [...m.blobs, ...m.children]) if (!existsSync(cache.store.pathOf(d))) throw blobUnknown(d);
  cache.db.putBlob(digest.value, body.length, m.mediaType, deps.now());
}

/** Linked here, or anywhere in the store (then the manifest's transaction links it). */
async function assertPresent(deps: PushDeps, repository: string, d: Digest): Promise<void> {
  if (
    (await deps.index.linkKind(deps.registry, repository, d.value)) !== undefined &&
    (await deps.cache.store.size(d)) !== undefined
  )
    return;
  if ((await deps.cache.blobSize(d)) === undefined) throw blobUnknown(d);
}

/** In the bucket; a blob this replica holds only on its disk (cached before s3) is uploaded now. */
async function assertShared(deps: PushDeps, d: Digest): Promise<void> {
  const { cache } = deps;
  if ((await sharedSize(deps, d)) !== undefined) return;
  if ((await cache.blobSize(d)) === undefined || !cache.shared) throw blobUnknown(d);
  await uploadToShared(cache.shared, d, cache.store.pathOf(d)).catch((e: Error) => {
    throw unavailable(e);
  });
}

/**
 * The bucket first (the other replicas serve from it), then this replica's memory and disk in the
 * background (without writing the bucket a second time).
 */
async function storeShared(deps: PushDeps, digest: Digest, body: Buffer, mediaType: string): Promise<void> {
  const { cache } = deps;
  await cache.shared?.writeVerified(digest, body).catch((e: Error) => {
    throw unavailable(e);
  });
  void cache.putManifestSoon(digest, body, mediaType, true);
}

async function sharedSize(deps: PushDeps, d: Digest): Promise<number | undefined> {
  return deps.cache.sharedSize(d).catch((e: Error) => {
    throw unavailable(e);
  });
}

function unavailable(e: Error): WharfError {
  return new WharfError("STORE_UNAVAILABLE", `shared store: ${e.message}`);
}

function blobUnknown(d: Digest): WharfError {
  return new WharfError("MANIFEST_BLOB_UNKNOWN", `manifest references unknown blob ${d.value}`, {
    detail: { digest: d.value },
  });
}
