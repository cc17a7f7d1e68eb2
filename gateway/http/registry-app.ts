// The OCI distribution pull API for every registry backend, as a hono app on @hono/node-server.

import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import type { Context } from "hono";
import { Hono } from "hono";
import { isWharfError, WharfError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { parseDigest } from "../oci/digest.ts";
import { parseAccept } from "../oci/media-types.ts";
import { parseReference } from "../oci/reference.ts";
import type { Outcome, Registry } from "../registry/registry.ts";
import { blobReply, manifestReply, type Reply, tagsReply } from "./content-reply.ts";
import { parseRangeHeader } from "./range-header.ts";
import type { RegistryRouter } from "./registry-router.ts";
import { parseV2Path } from "./v2-path.ts";
import {
  API_VERSION_HEADER,
  discardBody,
  type NodeRequest,
  type NodeResponse,
  writeReply,
} from "./write-reply.ts";

export interface RequestEvent {
  registry: string | undefined;
  repository: string | undefined;
  reference: string | undefined;
  kind: "manifest" | "blob" | "tags" | "base" | "other";
  method: string;
  status: number;
  outcome: Outcome | "error";
  bytes: number;
  ms: number;
  errorCode?: string;
  /** What the upstream answered, when this request went upstream (200 for fetched content). */
  upstreamStatus?: number;
}

export interface RegistryAppDeps {
  router: RegistryRouter;
  backends: ReadonlyMap<string, Registry>;
  log: Logger;
  /** The TLS server name of the connection, when the request came through the TLS gateway. */
  servernameOf?: (req: NodeRequest) => string | undefined;
  onRequest?: (e: RequestEvent) => void;
}

type Env = { Bindings: { incoming: NodeRequest; outgoing: NodeResponse } };

export function createRegistryApp(deps: RegistryAppDeps): Hono<Env> {
  const app = new Hono<Env>();
  // The request line has fixed keys and no secret can reach it (err is a message string), so the
  // logger's key-path redaction finds nothing here; it costs about 70 µs per line with the
  // wildcard paths of log.ts, a tenth of a core at 2,000 manifest requests per second.
  const requestLog = deps.log.child({}, { redact: [] });

  app.all("*", async function registryRequest(c: Context<Env>) {
    const started = performance.now();
    const method = c.req.method;
    const head = method === "HEAD";
    const url = new URL(c.req.url);
    const event: RequestEvent = {
      registry: undefined,
      repository: undefined,
      reference: undefined,
      kind: "other",
      method,
      status: 0,
      outcome: "error",
      bytes: 0,
      ms: 0,
    };
    const finish = (status: number, outcome: RequestEvent["outcome"], bytes: number, err?: WharfError) => {
      event.status = status;
      event.outcome = outcome;
      event.bytes = bytes;
      event.ms = Math.round(performance.now() - started);
      if (err) event.errorCode = err.code;
      // A miss, a coalesced fill, a revalidation or a passthrough only proceeds on an upstream 200.
      if (err?.upstreamStatus !== undefined) event.upstreamStatus = err.upstreamStatus;
      else if (
        outcome === "miss" ||
        outcome === "coalesced" ||
        outcome === "revalidated" ||
        outcome === "passthrough"
      )
        event.upstreamStatus = 200;
      deps.onRequest?.(event);
      const level = status >= 500 ? "warn" : "info";
      requestLog[level]({ ...event, err: err?.message }, "request");
    };
    try {
      const rawPath = c.env.incoming.url?.split("?")[0] ?? url.pathname;
      const route = parseV2Path(rawPath);
      if (!route) throw new WharfError("NOT_FOUND", "not a registry API path");
      if (route.kind === "base") {
        event.kind = "base";
        finish(200, "hit", 2);
        return c.json({}, 200, API_VERSION_HEADER);
      }
      if (route.kind === "catalog" || route.kind === "upload")
        throw new WharfError(
          "UNSUPPORTED",
          "wharf is a pull-through cache: push and catalog are not supported",
        );
      if (method !== "GET" && method !== "HEAD")
        throw new WharfError("UNSUPPORTED", `${method} is not supported: wharf is a pull-through cache`);
      const servername = deps.servernameOf?.(c.env.incoming);
      const host = c.req.header("host");
      if (servername) {
        const sniRegistry = deps.router.registryForHost(servername);
        const hostRegistry = host ? deps.router.registryForHost(host) : undefined;
        if (host && hostRegistry !== sniRegistry)
          throw new WharfError(
            "MISDIRECTED",
            `Host ${host.slice(0, 100)} does not match the TLS server name ${servername}`,
          );
      }
      const routed = deps.router.route({
        name: route.name,
        servername,
        host,
        ns: url.searchParams.get("ns"),
      });
      event.registry = routed.registry;
      event.repository = routed.repository;
      const backend = deps.backends.get(routed.registry);
      if (!backend) throw new WharfError("NAME_UNKNOWN", `registry ${routed.registry} is not configured`);
      let reply: Reply;
      if (route.kind === "manifest") {
        event.kind = "manifest";
        event.reference = route.reference;
        const m = await backend.manifest(routed.repository, parseReference(route.reference), {
          head,
          accept: parseAccept(c.req.header("accept")),
        });
        reply = manifestReply(m);
      } else if (route.kind === "blob") {
        event.kind = "blob";
        event.reference = route.digest;
        const range = parseRangeHeader(c.req.header("range"));
        const b = await backend.blob(routed.repository, parseDigest(route.digest), {
          head,
          ...(range && { range }),
        });
        reply = blobReply(b);
      } else {
        event.kind = "tags";
        const n = url.searchParams.get("n");
        const last = url.searchParams.get("last");
        const page = await backend.tags(routed.repository, {
          ...(n !== null && /^\d+$/.test(n) && { n: Number(n) }),
          ...(last !== null && { last }),
        });
        reply = tagsReply(page);
      }
      if (head) {
        // hono answers HEAD by running this (GET) route and wrapping its Response in a new one,
        // which @hono/node-server then writes: a reply already written to the socket here would be
        // written twice (an error, and the HTTP/2 stream reset). A HEAD reply has no body, so it
        // goes back through hono.
        discardBody(reply.body);
        finish(reply.status, reply.outcome, 0);
        return c.body(null, reply.status as 200, { ...API_VERSION_HEADER, ...reply.headers });
      }
      const bytes = await writeReply(c.env.outgoing, reply, false);
      finish(reply.status, reply.outcome, bytes);
      return RESPONSE_ALREADY_SENT;
    } catch (e) {
      const err = isWharfError(e) ? e : new WharfError("INTERNAL", "internal error", { cause: e });
      if (!isWharfError(e)) deps.log.error({ err: e }, "unexpected error");
      finish(err.status, "error", 0, err);
      if (c.env.outgoing.headersSent) {
        c.env.outgoing.destroy();
        return RESPONSE_ALREADY_SENT;
      }
      const headers: Record<string, string> = { ...API_VERSION_HEADER, ...err.headers };
      if (head) return c.body(null, err.status as 400, headers);
      return c.json(err.toOciBody(), err.status as 400, headers);
    }
  });
  return app;
}
