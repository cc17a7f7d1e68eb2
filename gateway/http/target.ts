// The registry and repository a request is for (registry-router.ts decides), and the name as the
// client wrote it: URLs wharf sends back (upload Location, Link) keep the client's path prefix so
// a push through `/v2/<registry>/<repository>/…` on the plain-HTTP listener continues there.
import { WharfError } from "../../common/errors.ts";
import { type HostedRegistryApi, isHosted, type Registry } from "../registry/registry.ts";
import { type Ctx, hostOf } from "./http-env.ts";
import type { RegistryRouter } from "./registry-router.ts";

export interface Target {
  registry: Registry;
  repository: string;
  /** The <name> of the request path, prefix included. */
  clientName: string;
  /** `?ns=` as the client sent it, kept on URLs wharf sends back. */
  ns: string | undefined;
}

export interface Targets {
  router: RegistryRouter;
  registries: ReadonlyMap<string, Registry>;
}

function registryNamed(t: Targets, name: string): Registry {
  const registry = t.registries.get(name);
  if (!registry) throw new WharfError("NAME_UNKNOWN", `registry ${name} is not configured`);
  return registry;
}

export function targetOf(c: Ctx, t: Targets, clientName: string): Target {
  const state = c.get("state");
  const ns = c.req.query("ns");
  const routed = t.router.route({
    name: clientName,
    servername: state.servername,
    host: hostOf(c),
    ns,
  });
  state.event.registry = routed.registry;
  state.event.repository = routed.repository;
  return { registry: registryNamed(t, routed.registry), repository: routed.repository, clientName, ns };
}

/** The registry a request without a repository (`/v2/`, `/v2/_catalog`) is for. */
export function registryOf(c: Ctx, t: Targets): Registry {
  const name = t.router.registryWithoutName({
    servername: c.get("state").servername,
    host: hostOf(c),
    ns: c.req.query("ns"),
  });
  c.get("state").event.registry = name;
  return registryNamed(t, name);
}

/** The hosted registry a push endpoint needs; a proxied one refuses writes as it always did. */
export function hostedOf(target: Target): HostedRegistryApi {
  const r = target.registry;
  if (!isHosted(r))
    throw new WharfError("UNSUPPORTED", `${r.name} is a proxied registry: wharf serves it read-only`);
  return r;
}

/** `path` (starting /v2/<clientName>/…) with `?ns=` kept when the client routed by it. */
export function clientUrl(target: Target, rest: string): string {
  const path = `/v2/${target.clientName}/${rest}`;
  return target.ns === undefined
    ? path
    : `${path}${path.includes("?") ? "&" : "?"}ns=${encodeURIComponent(target.ns)}`;
}
