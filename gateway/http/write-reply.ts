// Writes a backend reply straight to the Node response: streamed bodies are piped with
// backpressure, and a body that fails mid-way destroys the connection so the client sees an
// error instead of a short or wrong download.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Reply } from "../cache/registry-backend.ts";

export type NodeRequest = IncomingMessage | Http2ServerRequest;
export type NodeResponse = ServerResponse | Http2ServerResponse;

export const API_VERSION_HEADER = { "docker-distribution-api-version": "registry/2.0" };

/** Sends `reply`; resolves with the body bytes written once the response has finished or failed. */
export async function writeReply(res: NodeResponse, reply: Reply, head: boolean): Promise<number> {
  const headers = { ...API_VERSION_HEADER, ...reply.headers };
  (res as ServerResponse).writeHead(reply.status, headers);
  const body = reply.body;
  if (head || body === undefined) {
    if (body instanceof Readable) body.destroy();
    res.end();
    return 0;
  }
  if (Buffer.isBuffer(body)) {
    res.end(body);
    return body.length;
  }
  let bytes = 0;
  body.on("data", (chunk: Buffer) => {
    bytes += chunk.length;
  });
  try {
    await pipeline(body, res as ServerResponse);
  } catch {
    // Client went away, or the source failed (digest mismatch, upstream died): never complete
    // the response; tear the connection (or HTTP/2 stream) down.
    const r = res as ServerResponse & { stream?: { close(code: number): void } };
    if (r.stream) r.stream.close(2);
    else r.socket?.destroy();
  }
  return bytes;
}
