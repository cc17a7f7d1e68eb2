// What every registry backend (proxy, hosted) offers the HTTP layer. Methods return content
// (descriptor, size, body), never an HTTP reply: http/ turns content into status codes and
// headers (Range, 206, Docker-Content-Digest). Shaped after distribution's split of local and
// remote stores behind one interface, and undici's small CacheStore interface.
import type { Readable } from "node:stream";
import type { FileBody } from "../cache/file-body.ts";
import type { Digest } from "../oci/digest.ts";
import type { Reference } from "../oci/reference.ts";

/** How a request was answered, for logs and metrics. */
export type Outcome = "hit" | "miss" | "revalidated" | "stale" | "coalesced" | "passthrough" | "stored";

export type Body = Buffer | Readable | FileBody;

/**
 * A byte range as a client asked for it (RFC 9110 14.1.2), before it is resolved against the
 * content's size: `bytes=a-b`, `bytes=a-`, `bytes=-n`.
 */
export type RangeRequest = { kind: "from"; start: number; end?: number } | { kind: "suffix"; length: number };

/** An inclusive byte range resolved against a size. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface ManifestContent {
  digest: string;
  mediaType: string;
  size: number;
  /** Absent for HEAD. */
  body?: Buffer;
  outcome: Outcome;
  /** Served stale, and why (becomes a `Warning: 110` header). */
  warning?: string;
}

export interface BlobContent {
  digest: string;
  /** Total size; undefined when the upstream did not say and the fill is still running. */
  size: number | undefined;
  /** Set when `body` holds only this slice of the blob (a 206). */
  range?: ByteRange;
  /** Absent for HEAD. */
  body?: Body;
  outcome: Outcome;
}

export interface TagPage {
  name: string;
  tags: string[];
  /** RFC 8288 `Link` to the next page, as the registry that produced the list wrote it. */
  link?: string;
  outcome: Outcome;
}

export interface Registry {
  readonly name: string;
  readonly kind: "proxy" | "hosted";
  manifest(
    repository: string,
    ref: Reference,
    opts: { head: boolean; accept: string[] },
  ): Promise<ManifestContent>;
  blob(
    repository: string,
    digest: Digest,
    opts: { head: boolean; range?: RangeRequest },
  ): Promise<BlobContent>;
  tags(repository: string, page: { n?: number; last?: string }): Promise<TagPage>;
}

/** An upload session's state (OCI distribution spec, "Pushing blobs"). */
export interface UploadState {
  id: string;
  repository: string;
  /** Bytes received so far; the `Range: 0-<offset-1>` header reports them. */
  offset: number;
}

/** What a client's chunk says about its place (`Content-Range: <start>-<end>`, `Content-Length`). */
export interface ChunkInfo {
  start?: number;
  end?: number;
  length?: number;
}

export interface PushedManifest {
  digest: string;
  /** The `subject` digest, sent back as `OCI-Subject` (spec, "Pushing Manifests with Subject"). */
  subject?: string;
}

export interface HostedRegistryApi extends Registry {
  readonly kind: "hosted";
  readonly allowDelete: boolean;
  readonly anonymousPull: boolean;
  /** Cross-repository mount: true when `digest` is now linked into `repository` (201). */
  mount(repository: string, digest: Digest, fromRepository: string | undefined): Promise<boolean>;
  startUpload(repository: string): Promise<UploadState>;
  uploadStatus(repository: string, id: string): Promise<UploadState>;
  appendUpload(repository: string, id: string, body: Readable, chunk: ChunkInfo): Promise<UploadState>;
  /** Appends `body` if given, verifies `digest` over everything received, commits, links. */
  finishUpload(
    repository: string,
    id: string,
    digest: Digest,
    body: Readable | undefined,
    chunk: ChunkInfo,
  ): Promise<{ digest: string; size: number }>;
  cancelUpload(repository: string, id: string): Promise<void>;
  putManifest(repository: string, ref: Reference, body: Buffer, contentType: string): Promise<PushedManifest>;
  /** By digest: the manifest and every tag on it; by tag: the tag only. */
  deleteManifest(repository: string, ref: Reference): Promise<void>;
  deleteBlob(repository: string, digest: Digest): Promise<void>;
  /** An OCI image index listing the manifests whose `subject` is `digest`. */
  referrers(repository: string, digest: Digest, artifactType: string | undefined): Promise<Buffer>;
  /** Repository names, sorted, paginated like tags. */
  catalog(page: { n?: number; last?: string }): Promise<{ repositories: string[]; more: boolean }>;
}

export function isHosted(r: Registry): r is HostedRegistryApi {
  return r.kind === "hosted";
}
