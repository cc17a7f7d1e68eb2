// What the cache records beside the blobs: sizes and access times (eviction), manifest media
// types, tag records with their fetch and check times (tag freshness), and which repository of
// which registry uses a blob. SQLite on one node today (cache/metadata-db.ts); every
// implementation passes meta-store.conformance.ts.
import type { BlobRecord, TagRecord } from "../cache/metadata-db.ts";

export type { BlobRecord, TagRecord };

export interface MetaStore {
  /** Records a blob (or refreshes its size and access time); a null media type keeps the known one. */
  putBlob(digest: string, size: number, mediaType: string | null, now: number): void;
  getBlob(digest: string): BlobRecord | undefined;
  touchBlob(digest: string, now: number): void;
  /** Forgets a blob and every repository's link to it. */
  deleteBlob(digest: string): void;
  totalSize(): { bytes: number; count: number };
  /** Least recently used blobs first. */
  lruBlobs(limit: number): BlobRecord[];
  allBlobDigests(): string[];

  /** Creates or replaces the record of registry/repository:tag. */
  putTag(t: TagRecord): void;
  getTag(registry: string, repository: string, tag: string): TagRecord | undefined;
  /** Upstream confirmed the tag still points at its digest. */
  markTagChecked(registry: string, repository: string, tag: string, now: number): void;
  deleteTag(registry: string, repository: string, tag: string): void;
  /** Sorted by registry, repository, tag; `repositoryPrefix` matches the repository and those below it. */
  listTags(registry?: string, repositoryPrefix?: string): TagRecord[];

  noteRepoBlob(registry: string, repository: string, digest: string, now: number): void;
  /** Digests `repository` of `registry` is known to use, sorted. */
  repoBlobs(registry: string, repository: string): string[];
}
