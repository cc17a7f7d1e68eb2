// Node ends the writable side of an HTTP/2 stream for a HEAD request as soon as its headers arrive
// (a HEAD response has no body, RFC 9110 9.3.2); responding ends it again, and so does the
// compatibility layer's res.end(). Each repeated end() builds an ERR_STREAM_ALREADY_FINISHED error
// with a stack trace that nobody receives (no callback is passed): about 5 % of the CPU of a
// cached manifest HEAD. A stream of a HEAD request gets an end() that returns at once when the
// stream is already ended and no callback waits for it; anything else goes to the original.
import type { Http2ServerRequest } from "node:http2";
import { Duplex } from "node:stream";

const duplexEnd = Duplex.prototype.end;

function endOnce(this: Duplex, ...args: unknown[]): Duplex {
  if (args.length === 0 && this.writableEnded) return this;
  return (duplexEnd as (...a: unknown[]) => Duplex).apply(this, args);
}

/** Installs endOnce on the stream of an HTTP/2 HEAD request (HTTP/1.1 requests have no stream). */
export function quietHeadEnd(req: { method?: string }): void {
  if (req.method !== "HEAD") return;
  const stream = (req as Http2ServerRequest).stream as Duplex | undefined;
  if (stream && stream.end === duplexEnd) stream.end = endOnce as Duplex["end"];
}
