// A registry that holds images of its own: pushes land in the shared content-addressed store (one
// copy of a layer whether it was pulled through a proxy or pushed), and hosted-meta records which
// repository holds what. Crash safety comes from ordering: bytes are complete and fsynced under
// their digest before any record names them, and every record that names content is written in
// one transaction that first re-checks the files are still there (gc may run concurrently).
// In a replica set (`shared`), the index is in PostgreSQL, uploads are shared-uploads.ts and the
// content lives in the bucket: pushed through one replica, served by every one (docs/storage.md).
import { existsSync, renameSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { WharfError } from "../../../common/errors.ts";
import type { ContentCache } from "../../cache/content-cache.ts";
import { uploadToShared } from "../../cache/shared-blobs.ts";
import type { Logger } from "../../log.ts";
import { type Digest, parseDigest } from "../../oci/digest.ts";
import { acceptsManifest, declaredMediaType, OCI_INDEX, OCI_MANIFEST } from "../../oci/media-types.ts";
import type { Reference } from "../../oci/reference.ts";
import type { HostedIndex, HostedUsage } from "../../store/hosted-index-api.ts";
import type {
  BlobContent,
  ChunkInfo,
  HostedRegistryApi,
  ManifestContent,
  PushedManifest,
  RangeRequest,
  TagPage,
  UploadState,
} from "../registry.ts";
import { resolveRange } from "../resolve-range.ts";
import type { HostedMeta } from "./hosted-meta.ts";
import { pushManifest } from "./manifest-push.ts";
import { readShared } from "./read-shared.ts";
import type { SharedUploads } from "./shared-uploads.ts";
import { SqliteHostedIndex } from "./sqlite-hosted-index.ts";
import { UploadSessions } from "./upload-sessions.ts";

/** `registries.<name>.hosted` after validation (uploadTtl in milliseconds). */
export interface HostedConfig {
  allowDelete: boolean;
  anonymousPull: boolean;
  uploadTtl: number;
}

export type { HostedUsage };

/** What a replica set shares (storage.postgres with storage.kind s3): index and upload sessions. */
export interface SharedHosting {
  index: HostedIndex;
  uploads: SharedUploads;
}

/** Where upload sessions live: beside blobs/, on the same file system, so commit is a rename. */
export function uploadsDir(cache: ContentCache): string {
  return join(dirname(cache.store.root), "uploads");
}

export class HostedRegistry implements HostedRegistryApi {
  readonly kind = "hosted" as const;
  readonly name: string;
  readonly allowDelete: boolean;
  readonly anonymousPull: boolean;
  readonly uploadTtl: number;
  /** This node's SQLite records (the index too unless a replica set shares one). */
  readonly meta: HostedMeta;
  readonly index: HostedIndex;
  readonly #cache: ContentCache;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #uploads: UploadSessions;
  readonly #shared: SharedUploads | undefined;

  constructor(opts: {
    name: string;
    config: HostedConfig;
    cache: ContentCache;
    log: Logger;
    now?: () => number;
    shared?: SharedHosting;
  }) {
    this.name = opts.name;
    this.allowDelete = opts.config.allowDelete;
    this.anonymousPull = opts.config.anonymousPull;
    this.uploadTtl = opts.config.uploadTtl;
    this.#cache = opts.cache;
    this.#log = opts.log;
    this.#now = opts.now ?? Date.now;
    const local = new SqliteHostedIndex(opts.cache.db);
    this.meta = local.meta;
    this.index = opts.shared?.index ?? local;
    this.#shared = opts.shared?.uploads;
    this.#uploads = new UploadSessions({ dir: uploadsDir(opts.cache), registry: this.name, now: this.#now });
  }

  async manifest(
    repository: string,
    ref: Reference,
    opts: { head: boolean; accept: string[] },
  ): Promise<ManifestContent> {
    let digest: string;
    let mediaType: string | undefined;
    if (ref.kind === "tag") {
      const t = await this.index.getTag(this.name, repository, ref.tag);
      if (!t) throw new WharfError("MANIFEST_UNKNOWN", "manifest unknown", { detail: { tag: ref.tag } });
      digest = t.digest;
      mediaType = t.mediaType;
    } else {
      digest = ref.digest.value;
      if ((await this.index.linkKind(this.name, repository, digest)) !== "manifest")
        throw new WharfError("MANIFEST_UNKNOWN", "manifest unknown", { detail: { digest } });
    }
    const stored = await this.#cache.readManifest(parseDigest(digest));
    if (!stored) throw new WharfError("MANIFEST_UNKNOWN", "manifest unknown", { detail: { digest } });
    mediaType ??= stored.mediaType ?? declaredMediaType(stored.body) ?? OCI_MANIFEST;
    // distribution answers MANIFEST_UNKNOWN when the stored type is not acceptable (no conversion).
    if (!acceptsManifest(opts.accept, mediaType))
      throw new WharfError(
        "MANIFEST_UNKNOWN",
        `manifest is ${mediaType}, which the Accept header does not list`,
      );
    return {
      digest,
      mediaType,
      size: stored.body.length,
      ...(opts.head ? {} : { body: stored.body }),
      outcome: "hit",
    };
  }

  /** Only blobs this repository links are served (spec: access is gated by <name>). */
  async blob(
    repository: string,
    digest: Digest,
    opts: { head: boolean; range?: RangeRequest },
  ): Promise<BlobContent> {
    const linked = (await this.index.linkKind(this.name, repository, digest.value)) !== undefined;
    const size = linked ? await this.#cache.blobSize(digest) : undefined;
    if (size === undefined && linked && this.#shared) return readShared(this.#cache, digest, opts);
    if (size === undefined)
      throw new WharfError("BLOB_UNKNOWN", "blob unknown to registry", { detail: { digest: digest.value } });
    const range = opts.range && resolveRange(opts.range, size);
    const content: BlobContent = { digest: digest.value, size, outcome: "hit", ...(range ? { range } : {}) };
    if (!opts.head) content.body = this.#cache.openBlob(digest, size, range);
    return content;
  }

  async tags(repository: string, page: { n?: number; last?: string }): Promise<TagPage> {
    if (!(await this.index.hasRepository(this.name, repository)))
      throw new WharfError("NAME_UNKNOWN", "repository name not known to registry", {
        detail: { name: repository },
      });
    const { items, more } = paginate(await this.index.listTags(this.name, repository, page), page.n);
    const last = items.at(-1);
    const link =
      more && last !== undefined
        ? `</v2/${repository}/tags/list?n=${page.n}&last=${encodeURIComponent(last)}>; rel="next"`
        : undefined;
    return { name: repository, tags: items, ...(link ? { link } : {}), outcome: "hit" };
  }

  async catalog(page: { n?: number; last?: string }): Promise<{ repositories: string[]; more: boolean }> {
    const { items, more } = paginate(await this.index.listRepositories(this.name, page), page.n);
    return { repositories: items, more };
  }

  /** Links a blob the store already has (pushed elsewhere or pulled through a proxy): no bytes move. */
  async mount(repository: string, digest: Digest, fromRepository: string | undefined): Promise<boolean> {
    const release = this.#cache.hold(digest.value);
    try {
      const size = this.#shared ? await this.#sharedSizeOrUpload(digest) : await this.#cache.blobSize(digest);
      if (size === undefined) return false;
      const path = this.#cache.store.pathOf(digest);
      const guard = this.#shared ? undefined : () => existsSync(path);
      const linked = await this.index.linkBlob(this.name, repository, digest.value, size, this.#now(), guard);
      if (linked) this.#log.debug({ repository, digest: digest.value, from: fromRepository }, "blob mounted");
      return linked;
    } finally {
      release();
    }
  }

  /** In the bucket; a blob this replica holds only on its disk (cached before s3) is uploaded. */
  async #sharedSizeOrUpload(digest: Digest): Promise<number | undefined> {
    const shared = await this.#cache.sharedSize(digest);
    if (shared !== undefined || !this.#cache.shared) return shared;
    if ((await this.#cache.blobSize(digest)) === undefined) return undefined;
    return uploadToShared(this.#cache.shared, digest, this.#cache.store.pathOf(digest));
  }

  startUpload(repository: string): Promise<UploadState> {
    return (this.#shared ?? this.#uploads).start(repository);
  }

  uploadStatus(repository: string, id: string): Promise<UploadState> {
    return (this.#shared ?? this.#uploads).status(repository, id);
  }

  appendUpload(repository: string, id: string, body: Readable, chunk: ChunkInfo): Promise<UploadState> {
    return (this.#shared ?? this.#uploads).append(repository, id, body, chunk);
  }

  cancelUpload(repository: string, id: string): Promise<void> {
    return (this.#shared ?? this.#uploads).cancel(repository, id);
  }

  async finishUpload(
    repository: string,
    id: string,
    digest: Digest,
    body: Readable | undefined,
    chunk: ChunkInfo,
  ): Promise<{ digest: string; size: number }> {
    if (this.#shared) {
      // verified and visible in the bucket before the link names it
      const done = await this.#shared.finish(repository, id, digest, body, chunk);
      await this.index.linkBlob(this.name, repository, digest.value, done.size, this.#now());
      this.#log.debug({ repository, ...done }, "blob pushed to the shared store");
      return done;
    }
    return this.#uploads.finish(repository, id, digest, body, chunk, async (dataPath, size) => {
      const target = this.#cache.store.pathOf(digest);
      await mkdir(dirname(target), { recursive: true, mode: 0o750 });
      const release = this.#cache.hold(digest.value);
      try {
        // One transaction: the blob is in place (renamed now, or already there) when its link
        // commits, and gc (which unlinks files inside its own transaction) cannot interleave.
        await this.index.linkBlob(this.name, repository, digest.value, size, this.#now(), () => {
          if (!existsSync(target)) renameSync(dataPath, target);
          this.#cache.db.putBlob(digest.value, size, null, this.#now());
          return true;
        });
      } finally {
        release();
      }
      this.#log.debug({ repository, digest: digest.value, size }, "blob pushed");
    });
  }

  putManifest(
    repository: string,
    ref: Reference,
    body: Buffer,
    contentType: string,
  ): Promise<PushedManifest> {
    return pushManifest(
      {
        registry: this.name,
        cache: this.#cache,
        index: this.index,
        shared: this.#shared !== undefined,
        log: this.#log,
        now: this.#now,
      },
      repository,
      ref,
      body,
      contentType,
    );
  }

  async deleteManifest(repository: string, ref: Reference): Promise<void> {
    this.#assertDeletable();
    if (ref.kind === "tag") {
      if (!(await this.index.deleteTag(this.name, repository, ref.tag)))
        throw new WharfError("MANIFEST_UNKNOWN", "manifest unknown", { detail: { tag: ref.tag } });
      return;
    }
    const digest = ref.digest.value;
    if (!(await this.index.deleteManifest(this.name, repository, digest, this.#now())))
      throw new WharfError("MANIFEST_UNKNOWN", "manifest unknown", { detail: { digest } });
  }

  /** Removes the repository's link; the bytes go at gc once nothing links or uses them. */
  async deleteBlob(repository: string, digest: Digest): Promise<void> {
    this.#assertDeletable();
    const removed = await this.index.unlinkBlob(this.name, repository, digest.value, this.#now());
    if (!removed)
      throw new WharfError("BLOB_UNKNOWN", "blob unknown to registry", { detail: { digest: digest.value } });
  }

  async referrers(repository: string, digest: Digest, artifactType: string | undefined): Promise<Buffer> {
    const manifests = (await this.index.referrers(this.name, repository, digest.value, artifactType)).map(
      (r) => ({
        mediaType: r.mediaType,
        digest: r.digest,
        size: r.size,
        ...(r.artifactType ? { artifactType: r.artifactType } : {}),
        ...(r.annotations ? { annotations: r.annotations } : {}),
      }),
    );
    return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }));
  }

  /** Hosted content of this registry, for the status page and metrics. */
  usage(): Promise<HostedUsage> {
    return this.index.usage(this.name);
  }

  #assertDeletable(): void {
    if (!this.allowDelete)
      throw new WharfError("UNSUPPORTED", `deletes are disabled on ${this.name} (hosted.allowDelete)`);
  }
}

/** `rows` holds up to n+1 items (one more tells that another page follows); n=0 asks for none. */
function paginate(rows: string[], n: number | undefined): { items: string[]; more: boolean } {
  if (n === undefined) return { items: rows, more: false };
  return { items: rows.slice(0, n), more: n > 0 && rows.length > n };
}
