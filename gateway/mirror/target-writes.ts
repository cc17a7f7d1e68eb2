// Writing a tag change's hosted records into this node's SQLite (HostedMeta), inside the caller's
// transaction: the one-node mirror store, and a replica set whose targets stay per replica
// (storage.postgres without a bucket). The shared case is store/pg/pg-mirror-targets.ts.
import type { HostedMeta } from "../registry/hosted/hosted-meta.ts";
import type { RepoName } from "./mirror-entries.ts";
import type { TargetDigest, TargetWrites } from "./mirror-store-api.ts";

export function applyLocally(meta: HostedMeta, target: RepoName, w: TargetWrites): void {
  const { registry, repository } = target;
  for (const l of w.links) meta.link(registry, repository, l.digest, l.kind, w.now);
  for (const r of w.referrers) meta.putReferrer(registry, repository, r.subject, r.record);
  for (const u of w.untags)
    if (meta.getTag(registry, repository, u.tag)?.digest === u.digest)
      meta.deleteTag(registry, repository, u.tag);
  for (const t of w.tags) meta.putTag(registry, repository, t.tag, t.to.digest, t.to.mediaType);
}

/** TagSnapshot.hostedTag over this node's SQLite. */
export function localHostedTag(
  meta: HostedMeta,
  target: RepoName,
): (tag: string) => TargetDigest | undefined {
  return (tag) => meta.getTag(target.registry, target.repository, tag);
}
