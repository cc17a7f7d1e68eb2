// What a hosted registry shares in a replica set: the index in PostgreSQL and upload sessions
// (rows in PostgreSQL, pieces in the bucket). Both storage.postgres and storage.kind s3 are needed:
// an index shared without shared content would name blobs other replicas cannot serve. A mirror
// target is shared the same way: the mirror writes its records into the shared index
// (open-mirror-store.ts), so a sync, pin or rollback on one replica moves what every replica serves.
import type { ContentCache } from "../../cache/content-cache.ts";
import type { Logger } from "../../log.ts";
import { parseDigest } from "../../oci/digest.ts";
import type { SharedMetadata } from "../../store/pg/open-postgres.ts";
import { type BucketCheck, PgHostedIndex } from "../../store/pg/pg-hosted-index.ts";
import { PgUploadSessions } from "../../store/pg/pg-upload-sessions.ts";
import type { S3BlobStore } from "../../store/s3/s3-blob-store.ts";
import type { HostedConfig, SharedHosting } from "./hosted-registry.ts";
import { SharedUploads } from "./shared-uploads.ts";

/** The bucket, when hosted registries of this process share their content (storage.kind s3). */
export function hostsShared(cache: ContentCache): S3BlobStore | undefined {
  // by shape, not instanceof: this module must not load the S3 SDK (open-shared-store.ts says why)
  const shared = cache.shared as Partial<S3BlobStore> | undefined;
  return shared?.s3 ? (shared as S3BlobStore) : undefined;
}

/** Of some digests, those the bucket does not hold (after gc collected them: pg-hosted-index.ts). */
export function bucketCheck(bucket: S3BlobStore): BucketCheck {
  return async (digests) => {
    const sizes = await Promise.all(digests.map((d) => bucket.size(parseDigest(d))));
    return digests.filter((_, i) => sizes[i] === undefined);
  };
}

export function sharedHosting(opts: {
  name: string;
  config: HostedConfig;
  cache: ContentCache;
  metadata: SharedMetadata | undefined;
  log: Logger;
}): SharedHosting | undefined {
  const { cache, metadata, log } = opts;
  if (!metadata) return undefined;
  const bucket = hostsShared(cache);
  if (!bucket) {
    log.warn("storage.postgres without storage.kind s3: hosted content stays on each replica");
    return undefined;
  }
  return {
    index: new PgHostedIndex(metadata.pool, bucketCheck(bucket)),
    uploads: new SharedUploads({
      rows: new PgUploadSessions(metadata.pool),
      chunks: bucket.uploadChunks(),
      blobs: bucket,
      registry: opts.name,
      now: Date.now,
      log,
      uploadTtl: opts.config.uploadTtl,
    }),
  };
}
