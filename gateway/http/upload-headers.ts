// The headers of the push API's replies and what a client's chunk says about itself (OCI
// distribution spec, "Pushing blobs": chunked uploads, end-4a … end-6, end-13).
import { WharfError } from "../../common/errors.ts";
import type { ChunkInfo, UploadState } from "../registry/registry.ts";
import { clientUrl, type Target } from "./target.ts";

/** `Location`, `Range` (bytes received, inclusive) and the upload's id, on 202 and 204 replies. */
export function uploadHeaders(target: Target, u: UploadState): Record<string, string> {
  return {
    location: clientUrl(target, `blobs/uploads/${u.id}`),
    // "0-<offset-1>"; distribution writes 0-0 for an empty upload
    range: `0-${Math.max(0, u.offset - 1)}`,
    "docker-upload-uuid": u.id,
  };
}

/** `Location` and `Docker-Content-Digest` of a blob once it exists (201). */
export function blobCreatedHeaders(target: Target, digest: string): Record<string, string> {
  return { location: clientUrl(target, `blobs/${digest}`), "docker-content-digest": digest };
}

const CONTENT_RANGE = /^(?:bytes[ =])?(\d+)-(\d+)$/;

/**
 * A chunk's `Content-Range: <start>-<end>` (the spec's form, without a unit) and `Content-Length`.
 * A Content-Range that is not a range is a 416 (spec: chunks out of order or malformed).
 */
export function chunkInfo(contentRange: string | undefined, contentLength: string | undefined): ChunkInfo {
  const chunk: ChunkInfo = {};
  if (contentLength !== undefined && /^\d+$/.test(contentLength)) chunk.length = Number(contentLength);
  if (contentRange !== undefined) {
    const m = CONTENT_RANGE.exec(contentRange.trim());
    if (!m) throw new WharfError("RANGE_INVALID", "Content-Range must be <start>-<end>");
    chunk.start = Number(m[1]);
    chunk.end = Number(m[2]);
    if (chunk.end < chunk.start) throw new WharfError("RANGE_INVALID", "Content-Range ends before it starts");
  }
  return chunk;
}
