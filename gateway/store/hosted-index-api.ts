// What a hosted registry needs from its index (which repository links which digest, tags,
// referrers), asynchronous so that one node keeps it in its SQLite file (sqlite-hosted-index.ts)
// and a replica set in PostgreSQL (pg/pg-hosted-index.ts). Both pass hosted-index.conformance.ts.
// Records that must change together (a manifest's links, its tag and its referrer entry; a deleted
// manifest's tags, referrer entry and link) change in one transaction.

export type LinkKind = "blob" | "manifest";

export interface ReferrerRecord {
  digest: string;
  mediaType: string;
  size: number;
  artifactType: string | null;
  annotations: Record<string, string> | null;
}

export interface Page {
  n?: number;
  last?: string;
}

export interface HostedUsage {
  blobs: number;
  bytes: number;
  repositories: number;
  tags: number;
}

/** A pushed manifest and everything its PUT records (OCI distribution spec, "Pushing Manifests"). */
export interface ManifestRecord {
  registry: string;
  repository: string;
  digest: string;
  mediaType: string;
  size: number;
  /** Config and layers: linked (or re-linked, which refreshes gc's grace) as blobs. */
  blobs: string[];
  /** Manifests an index lists: linked as manifests. */
  children: string[];
  tag?: string;
  /** The manifest's subject, when it has one: it becomes a referrer of that digest. */
  subject?: string;
  artifactType: string | null;
  annotations: Record<string, string> | null;
  now: number;
}

/** The referrer entry a manifest with a subject makes (OCI distribution spec, "Listing Referrers"). */
export function referrerOf(m: ManifestRecord): ReferrerRecord {
  return {
    digest: m.digest,
    mediaType: m.mediaType,
    size: m.size,
    artifactType: m.artifactType,
    annotations: m.annotations,
  };
}

/** A referrer row's columns in table order (registry, repository, subject, digest, artifact_type, media_type, size, annotations). */
export function referrerValues(
  registry: string,
  repository: string,
  subject: string,
  r: ReferrerRecord,
): (string | number | null)[] {
  const annotations = r.annotations ? JSON.stringify(r.annotations) : null;
  return [registry, repository, subject, r.digest, r.artifactType, r.mediaType, r.size, annotations];
}

export interface HostedIndex {
  linkKind(registry: string, repository: string, digest: string): Promise<LinkKind | undefined>;
  hasRepository(registry: string, repository: string): Promise<boolean>;
  getTag(
    registry: string,
    repository: string,
    tag: string,
  ): Promise<{ digest: string; mediaType: string } | undefined>;
  /** Tags in byte order after `page.last`, one more than `page.n` so the caller knows if more follow. */
  listTags(registry: string, repository: string, page: Page): Promise<string[]>;
  /** Repositories in byte order, paged like listTags. */
  listRepositories(registry: string, page: Page): Promise<string[]>;
  referrers(
    registry: string,
    repository: string,
    subject: string,
    artifactType?: string,
  ): Promise<ReferrerRecord[]>;
  usage(registry: string): Promise<HostedUsage>;
  /**
   * Links a blob to a repository. `guard` runs first, inside the transaction where one node's
   * index has one (content checks that must not interleave with gc); when it returns false
   * nothing is recorded and linkBlob resolves false.
   */
  linkBlob(
    registry: string,
    repository: string,
    digest: string,
    size: number,
    now: number,
    guard?: () => boolean,
  ): Promise<boolean>;
  /** Records a pushed manifest: its link, its blobs' and children's links, tag and referrer, at once. */
  recordManifest(m: ManifestRecord, guard?: () => void): Promise<void>;
  deleteTag(registry: string, repository: string, tag: string): Promise<boolean>;
  /** Removes a manifest link with its tags and referrer entry; false when the repository had none. */
  deleteManifest(registry: string, repository: string, digest: string, now: number): Promise<boolean>;
  /** Removes a blob link; false when the repository had none. */
  unlinkBlob(registry: string, repository: string, digest: string, now: number): Promise<boolean>;
}
