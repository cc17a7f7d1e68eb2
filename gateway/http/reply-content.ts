// Content from a registry backend → status, headers and body (OCI distribution spec, "Pulling
// manifests" and "Pulling blobs"; RFC 9110 for ranges and ETag). GET bodies are written straight
// to the Node response (write-reply.ts); HEAD replies go back through hono, see sendReply.
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import type { BlobContent, ManifestContent, Outcome, TagPage } from "../registry/registry.ts";
import type { Ctx } from "./http-env.ts";
import { contentRange } from "./range-header.ts";
import { API_VERSION_HEADER, discardBody, type Reply, writeReply } from "./write-reply.ts";

export function manifestReply(m: ManifestContent): Reply {
  const headers: Record<string, string> = {
    "content-type": m.mediaType,
    "content-length": String(m.size),
    "docker-content-digest": m.digest,
    etag: `"${m.digest}"`,
  };
  // RFC 7234 5.5.1 "Response is Stale": tells the client (and its operator) why
  if (m.warning) headers.warning = `110 wharf "${m.warning.replace(/["\\\r\n]/g, " ")}"`;
  return { status: 200, headers, body: m.body };
}

export function blobReply(b: BlobContent): Reply {
  const headers: Record<string, string> = {
    "docker-content-digest": b.digest,
    etag: `"${b.digest}"`,
    "accept-ranges": "bytes",
    "content-type": "application/octet-stream",
  };
  if (b.range && b.size !== undefined) {
    headers["content-length"] = String(b.range.end - b.range.start + 1);
    headers["content-range"] = contentRange(b.range, b.size);
    return { status: 206, headers, body: b.body };
  }
  if (b.size !== undefined) headers["content-length"] = String(b.size);
  return { status: 200, headers, body: b.body };
}

/** `{"name","tags"}` with the `Link` to the next page (spec, "Listing Tags"). */
export function tagsReply(page: TagPage, link: string | undefined): Reply {
  const body = Buffer.from(JSON.stringify({ name: page.name, tags: page.tags }));
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "content-length": String(body.length),
  };
  if (link) headers.link = link;
  return { status: 200, headers, body };
}

/**
 * Sends `reply` and records it for the request log. hono answers HEAD by running the GET route
 * and wrapping its Response in a new one, which @hono/node-server then writes: a reply already
 * written to the socket here would be written twice (an error, and the HTTP/2 stream reset). A
 * HEAD reply has no body, so it goes back through hono; a GET reply is written here.
 */
export async function sendReply(c: Ctx, reply: Reply, outcome: Outcome): Promise<Response> {
  const state = c.get("state");
  if (c.req.method === "HEAD") {
    discardBody(reply.body);
    state.sent(reply.status, outcome, 0);
    return c.body(null, reply.status as 200, { ...API_VERSION_HEADER, ...reply.headers });
  }
  const bytes = await writeReply(c.env.outgoing, reply, false);
  state.sent(reply.status, outcome, bytes);
  return RESPONSE_ALREADY_SENT;
}

/** A reply without a body (201, 202, 204 of the push API), through hono. */
export function emptyReply(
  c: Ctx,
  status: number,
  headers: Record<string, string>,
  outcome: Outcome,
): Response {
  c.get("state").event.outcome = outcome;
  // RFC 9110 8.6: no Content-Length on a 204
  const all: Record<string, string> = { ...API_VERSION_HEADER, ...headers };
  if (status !== 204) all["content-length"] = "0";
  return c.body(null, status as 201, all);
}
