// Checks every /v2/ request before routing: the raw path (hono would see it URL-normalised, with
// ".." already resolved) and, on the TLS gateway, that the host the request names belongs to the
// registry whose certificate the connection was made for.
import type { MiddlewareHandler } from "hono";
import { WharfError } from "../../common/errors.ts";
import type { Env } from "./http-env.ts";
import type { RegistryRouter } from "./registry-router.ts";
import { assertSafeV2Path } from "./v2-path.ts";
import type { NodeRequest } from "./write-reply.ts";

export function v2Guard(opts: {
  router: RegistryRouter;
  servernameOf?: (req: NodeRequest) => string | undefined;
}): MiddlewareHandler<Env> {
  return async function guard(c, next) {
    const incoming = c.env.incoming;
    const url = incoming.url ?? "/";
    const q = url.indexOf("?");
    assertSafeV2Path(q < 0 ? url : url.slice(0, q));
    const servername = opts.servernameOf?.(incoming);
    if (servername) {
      c.get("state").servername = servername;
      // HTTP/1.1 names the host in Host, HTTP/2 in :authority (RFC 9113 8.3.1): a request for
      // another registry on this connection is misdirected (RFC 9110 15.5.20), whichever it uses.
      const sniRegistry = opts.router.registryForHost(servername);
      for (const key of ["host", ":authority"] as const) {
        const host = incoming.headers[key] as string | undefined;
        if (host !== undefined && opts.router.registryForHost(host) !== sniRegistry)
          throw new WharfError(
            "MISDIRECTED",
            `${key === "host" ? "Host" : ":authority"} ${host.slice(0, 100)} does not match the TLS server name ${servername}`,
          );
      }
    }
    await next();
  };
}
