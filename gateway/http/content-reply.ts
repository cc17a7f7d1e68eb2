// Turns what a registry returns (content) into the status and headers of an HTTP reply: digests
// and ETags (distribution spec, "Pulling manifests"/"Pulling blobs"), 206 with Content-Range for
// a slice (RFC 9110 14.4), a `Warning: 110` for content served stale (RFC 7234 5.5.1).
import { contentRange } from "../oci/byte-range.ts";
import type { BlobContent, Body, ManifestContent, Outcome, TagPage } from "../registry/registry.ts";

export interface Reply {
  status: number;
  headers: Record<string, string>;
  body?: Body;
  outcome: Outcome;
  digest?: string;
}

export function manifestReply(m: ManifestContent): Reply {
  const headers: Record<string, string> = {
    "content-type": m.mediaType,
    "content-length": String(m.size),
    "docker-content-digest": m.digest,
    etag: `"${m.digest}"`,
  };
  if (m.warning) headers.warning = `110 wharf "${m.warning}"`;
  return { status: 200, headers, body: m.body, outcome: m.outcome, digest: m.digest };
}

export function blobReply(b: BlobContent): Reply {
  const headers: Record<string, string> = {
    "docker-content-digest": b.digest,
    etag: `"${b.digest}"`,
    "accept-ranges": "bytes",
    "content-type": "application/octet-stream",
  };
  let status = 200;
  if (b.range && b.size !== undefined) {
    status = 206;
    headers["content-length"] = String(b.range.end - b.range.start + 1);
    headers["content-range"] = contentRange(b.range, b.size);
  } else if (b.size !== undefined) {
    headers["content-length"] = String(b.size);
  }
  return { status, headers, body: b.body, outcome: b.outcome, digest: b.digest };
}

export function tagsReply(t: TagPage): Reply {
  const body = Buffer.from(JSON.stringify({ name: t.name, tags: t.tags }));
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "content-length": String(body.length),
  };
  if (t.link) headers.link = t.link;
  return { status: 200, headers, body, outcome: t.outcome };
}
