// Manifest PUT for hosted registries (OCI distribution spec, "Pushing Manifests"): validate, check
// that every blob and child manifest it names exists (MANIFEST_BLOB_UNKNOWN naming the digest),
// store the body under its digest, then record link, tag and referrer in one transaction that
// first re-checks the files (a concurrent gc may have taken them): after a crash at any point a
// tag names a stored manifest and a manifest names stored blobs.
import { existsSync } from "node:fs";
import { WharfError } from "../../../common/errors.ts";
import type { ContentCache } from "../../cache/content-cache.ts";
import type { Logger } from "../../log.ts";
import { type Digest, digestOf, parseDigest, sha256Digest } from "../../oci/digest.ts";
import type { Reference } from "../../oci/reference.ts";
import type { PushedManifest } from "../registry.ts";
import type { HostedMeta } from "./hosted-meta.ts";
import { type CheckedManifest, checkManifest } from "./manifest-check.ts";

export interface PushDeps {
  registry: string;
  cache: ContentCache;
  meta: HostedMeta;
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
  const { cache, meta } = deps;
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
    for (const d of needed) await assertPresent(deps, repository, d);
    // A gc sweeping between our write and our transaction can take the manifest file: write again.
    for (let attempt = 0; ; attempt++) {
      if ((await cache.store.size(digest)) === undefined) await cache.putManifest(digest, body, m.mediaType);
      try {
        meta.immediate(() => record(deps, repository, ref, digest, body, m));
        break;
      } catch (e) {
        if (!(e instanceof ContentGone) || attempt >= 2) throw e;
      }
    }
  } finally {
    for (const r of releases) r();
  }
  deps.log.debug({ repository, digest: digest.value, mediaType: m.mediaType }, "manifest pushed");
  return { digest: digest.value, ...(m.subject ? { subject: m.subject.value } : {}) };
}

/** Inside the transaction: everything the manifest names is still on disk, then the records. */
function record(
  deps: PushDeps,
  repository: string,
  ref: Reference,
  digest: Digest,
  body: Buffer,
  m: CheckedManifest,
): void {
  const { cache, meta, registry } = deps;
  if (!existsSync(cache.store.pathOf(digest))) throw new ContentGone();
  for (const d of [...m.blobs, ...m.children]) if (!existsSync(cache.store.pathOf(d))) throw blobUnknown(d);
  const now = deps.now();
  cache.db.putBlob(digest.value, body.length, m.mediaType, now);
  meta.link(registry, repository, digest.value, "manifest", now);
  // Re-linking refreshes the links' time: gc's grace then protects what this manifest names.
  for (const d of m.blobs) meta.link(registry, repository, d.value, "blob", now);
  for (const d of m.children) meta.link(registry, repository, d.value, "manifest", now);
  if (ref.kind === "tag") meta.putTag(registry, repository, ref.tag, digest.value, m.mediaType);
  if (m.subject)
    meta.putReferrer(registry, repository, m.subject.value, {
      digest: digest.value,
      mediaType: m.mediaType,
      size: body.length,
      artifactType: m.artifactType ?? null,
      annotations: m.annotations ?? null,
    });
}

/** Linked here, or anywhere in the store (then the manifest's transaction links it). */
async function assertPresent(deps: PushDeps, repository: string, d: Digest): Promise<void> {
  if (
    deps.meta.linkKind(deps.registry, repository, d.value) !== undefined &&
    (await deps.cache.store.size(d)) !== undefined
  )
    return;
  if ((await deps.cache.blobSize(d)) === undefined) throw blobUnknown(d);
}

function blobUnknown(d: Digest): WharfError {
  return new WharfError("MANIFEST_BLOB_UNKNOWN", `manifest references unknown blob ${d.value}`, {
    detail: { digest: d.value },
  });
}
