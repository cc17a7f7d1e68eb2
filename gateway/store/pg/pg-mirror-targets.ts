// A tag change's hosted records when a mirror target is a shared hosted registry (a replica set on
// a bucket): written with the same SQL as a push (pg-hosted-index.ts), on the mirror store's
// connection, so the mirror's rows (tag record, history) and the hosted rows (links, referrers,
// the tag and its history tags) commit in one PostgreSQL transaction. Every replica then serves
// the target from them, whichever replica synced, pinned or rolled back.
import type pg from "pg";
import { WharfError } from "../../../common/errors.ts";
import type { RepoName } from "../../mirror/mirror-entries.ts";
import type { TargetDigest, TargetWrites } from "../../mirror/mirror-store-api.ts";
import type { LinkKind } from "../hosted-index-api.ts";
import { type BucketCheck, link, putReferrer, putTag } from "./pg-hosted-index.ts";

type Client = pg.PoolClient;

/** The target repository's hosted tags, read inside the change's transaction (TagSnapshot.hostedTag). */
export async function sharedHostedTags(c: Client, target: RepoName): Promise<Map<string, TargetDigest>> {
  const r = await c.query<{ tag: string; digest: string; media_type: string }>(
    "SELECT tag, digest, media_type FROM hosted_tags WHERE registry = $1 AND repository = $2",
    [target.registry, target.repository],
  );
  return new Map(r.rows.map((row) => [row.tag, { digest: row.digest, mediaType: row.media_type }]));
}

const collected = (digest: string) =>
  new WharfError("BLOB_UNKNOWN", `${digest} was collected before the tag could move; sync again`, {
    detail: { digest },
  });

export async function applyShared(
  c: Client,
  target: RepoName,
  w: TargetWrites,
  bucket: BucketCheck | undefined,
): Promise<void> {
  const { registry, repository } = target;
  if (w.links.length > 0) {
    const links = new Map<string, { kind: LinkKind; size: number | null }>();
    for (const l of w.links) links.set(l.digest, { kind: l.kind, size: l.size });
    await link(c, registry, repository, links, w.now, bucket && { bucket, gone: collected });
  }
  for (const r of w.referrers) await putReferrer(c, registry, repository, r.subject, r.record);
  for (const u of w.untags)
    await c.query(
      "DELETE FROM hosted_tags WHERE registry = $1 AND repository = $2 AND tag = $3 AND digest = $4",
      [registry, repository, u.tag, u.digest],
    );
  for (const t of w.tags) await putTag(c, registry, repository, t.tag, t.to);
}
