// The OCI distribution API of every registry wharf serves, as a hono app on @hono/node-server:
// a request log, a guard for raw paths and misdirected hosts, one named route per endpoint
// (routes-pull, routes-push, routes-discovery), the token endpoint, and one error handler.
import { Hono } from "hono";
import { PatternRouter } from "hono/router/pattern-router";
import { WharfError } from "../../common/errors.ts";
import { TOKEN_PATH } from "../access/authenticator.ts";
import type { Logger } from "../log.ts";
import type { Registry } from "../registry/registry.ts";
import { v2Guard } from "./guard.ts";
import type { Env } from "./http-env.ts";
import { MemoRouter } from "./memo-router.ts";
import { registryErrorHandler } from "./on-error.ts";
import type { RegistryRouter } from "./registry-router.ts";
import { type RequestEvent, requestLog } from "./request-log.ts";
import type { RouteDeps } from "./route-deps.ts";
import { discoveryRoutes } from "./routes-discovery.ts";
import { pullRoutes } from "./routes-pull.ts";
import { pushRoutes } from "./routes-push.ts";
import { endpointOf } from "./v2-path.ts";
import type { NodeRequest } from "./write-reply.ts";

export type { RequestEvent } from "./request-log.ts";

export interface RegistryAppDeps {
  router: RegistryRouter;
  registries: ReadonlyMap<string, Registry>;
  /** Users and tokens (access.htpasswd); without it nobody can push. */
  authenticator?: RouteDeps["authenticator"];
  linkedIn?: RouteDeps["linkedIn"];
  log: Logger;
  /** The TLS server name of the connection, when the request came through the TLS gateway. */
  servernameOf?: (req: NodeRequest) => string | undefined;
  onRequest?: (e: RequestEvent) => void;
}

export function createRegistryApp(deps: RegistryAppDeps): Hono<Env> {
  // PatternRouter: the names-with-slashes patterns (`:name{.+}`) are beyond RegExpRouter, so
  // SmartRouter would fall back to TrieRouter, which measured slower on these few routes.
  // MemoRouter: its answers remembered per method and path (memo-router.ts).
  const app = new Hono<Env>({ router: new MemoRouter(new PatternRouter()) });
  const routeDeps: RouteDeps = {
    router: deps.router,
    registries: deps.registries,
    authenticator: deps.authenticator,
    ...(deps.linkedIn && { linkedIn: deps.linkedIn }),
  };
  app.use("*", requestLog({ log: deps.log, onRequest: deps.onRequest }));
  const guard = v2Guard({ router: deps.router, servernameOf: deps.servernameOf });
  app.use("/v2", guard);
  app.use("/v2/*", guard);
  pullRoutes(app, routeDeps);
  pushRoutes(app, routeDeps);
  discoveryRoutes(app, routeDeps);
  if (deps.authenticator) app.route(TOKEN_PATH, deps.authenticator.routes);
  // A known endpoint asked with a method it does not take is 405 (as a pull-through cache always
  // answered writes); anything else is 404.
  app.all("*", function unrouted(c) {
    const path = c.req.path;
    if (path.startsWith("/v2") && endpointOf(path))
      throw new WharfError("UNSUPPORTED", `${c.req.method} is not supported on this endpoint`);
    throw new WharfError("NOT_FOUND", "not a registry API path");
  });
  app.onError(registryErrorHandler({ log: deps.log, authenticator: deps.authenticator }));
  return app;
}
