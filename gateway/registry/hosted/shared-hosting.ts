// What a hosted registry shares in a replica set: the index in PostgreSQL and upload sessions
// (rows in PostgreSQL, pieces in the bucket). Both storage.postgres and storage.kind s3 are needed:
// an index shared without shared content would name blobs other replicas cannot serve.
import type { ContentCache } from "../../cache/content-cache.ts";
import type { Logger } from "../../log.ts";
import type { SharedMetadata } from "../../store/pg/open-postgres.ts";
import { PgHostedIndex } from "../../store/pg/pg-hosted-index.ts";
import { PgUploadSessions } from "../../store/pg/pg-upload-sessions.ts";
import { S3BlobStore } from "../../store/s3/s3-blob-store.ts";
import { S3UploadChunks } from "../../store/s3/s3-upload-chunks.ts";
import type { HostedConfig, SharedHosting } from "./hosted-registry.ts";
import { SharedUploads } from "./shared-uploads.ts";

export function sharedHosting(opts: {
  name: string;
  config: HostedConfig;
  cache: ContentCache;
  metadata: SharedMetadata | undefined;
  /** A mirror writes into it: the mirror keeps this node's records (not shared yet), so must it. */
  mirrored: boolean;
  log: Logger;
}): SharedHosting | undefined {
  const { cache, metadata, log } = opts;
  if (!metadata) return undefined;
  if (opts.mirrored) {
    log.warn("a mirror target stays per replica: mirror history and pins are not shared yet");
    return undefined;
  }
  if (!(cache.shared instanceof S3BlobStore)) {
    log.warn("storage.postgres without storage.kind s3: hosted content stays on each replica");
    return undefined;
  }
  return {
    index: new PgHostedIndex(metadata.pool),
    uploads: new SharedUploads({
      rows: new PgUploadSessions(metadata.pool),
      chunks: new S3UploadChunks(cache.shared.s3),
      blobs: cache.shared,
      registry: opts.name,
      now: Date.now,
      log,
      uploadTtl: opts.config.uploadTtl,
    }),
  };
}
