// What every route of the registry app shares: the Node request/response under hono, and the
// per-request state the request-log middleware creates (the event it logs, the TLS server name).
import type { Context } from "hono";
import type { RequestState } from "./request-log.ts";
import type { NodeRequest, NodeResponse } from "./write-reply.ts";

export type Env = {
  Bindings: { incoming: NodeRequest; outgoing: NodeResponse };
  Variables: { state: RequestState };
};

export type Ctx = Context<Env>;

/**
 * The host the client asked for: `Host` (HTTP/1.1) or `:authority` (HTTP/2, RFC 9113 8.3.1, which
 * Node does not copy into `host`). Read from the Node request: hono's headers drop pseudo-headers.
 */
export function hostOf(c: Ctx): string | undefined {
  const h = c.env.incoming.headers;
  return (h.host as string | undefined) ?? (h[":authority"] as string | undefined);
}

/**
 * Where a challenge sends the client for a token: the host it reached, over the scheme it used
 * (https on the TLS gateway, http on the plain-HTTP listener, whose clients cannot speak TLS).
 */
export function realmOf(c: Ctx): { host: string; scheme: "http" | "https" } {
  const socket = c.env.incoming.socket as { encrypted?: boolean } | undefined;
  return { host: hostOf(c) ?? "", scheme: socket?.encrypted ? "https" : "http" };
}

/**
 * A request header read from the Node request. hono's c.req.header() builds a WHATWG Headers copy
 * of every header on first use, which the hot paths (manifest and blob pulls) do not need.
 */
export function requestHeader(c: Ctx, name: string): string | undefined {
  const v = c.env.incoming.headers[name];
  return Array.isArray(v) ? v.join(", ") : v;
}
