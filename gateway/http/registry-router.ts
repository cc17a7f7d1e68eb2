// Picks the registry backend for a request, in this order: (1) the TLS server name or Host header
// names a registry or alias, (2) containerd's ?ns=<registry> on the mirror endpoint, (3) a path
// prefix /v2/<registry>/<repo>/..., (4) defaultRegistry.

import { WharfError } from "../../common/errors.ts";
import type { Config } from "../config/schema.ts";
import { assertRepository, withDockerHubLibrary } from "../oci/reference.ts";

export interface Routed {
  registry: string;
  repository: string;
  via: "host" | "ns" | "prefix" | "default";
}

export function hostWithoutPort(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith("[")) return h.slice(0, h.indexOf("]") + 1);
  const i = h.lastIndexOf(":");
  return i > 0 && !h.slice(0, i).includes(":") ? h.slice(0, i) : h;
}

/** Bound of the memos below (host names and request names come from clients). */
const MEMO_MAX = 1024;

export class RegistryRouter {
  readonly #byName = new Map<string, string>();
  readonly #default: string;
  // Every request is routed (and its Host checked by the guard): the same few hosts and names
  // come again and again, so their answers are kept rather than recomputed.
  readonly #hostMemo = new Map<string, string | null>();
  readonly #routeMemo = new Map<string, Routed>();

  constructor(config: Pick<Config, "registries" | "defaultRegistry">) {
    for (const [name, reg] of Object.entries(config.registries)) {
      this.#byName.set(name, name);
      for (const alias of reg.aliases) this.#byName.set(alias, name);
    }
    this.#default = config.defaultRegistry;
  }

  /** The registry a host name (registry name or alias, any port) stands for. */
  registryForHost(host: string | undefined): string | undefined {
    if (!host) return undefined;
    const known = this.#hostMemo.get(host);
    if (known !== undefined) return known ?? undefined;
    // The absolute form's trailing dot may come before a port too ("ghcr.io.:443").
    const h = host.toLowerCase().replace(/\.(?=(?::\d*)?$)/, "");
    const registry = this.#byName.get(h) ?? this.#byName.get(hostWithoutPort(h));
    if (this.#hostMemo.size >= MEMO_MAX) this.#hostMemo.clear();
    this.#hostMemo.set(host, registry ?? null);
    return registry;
  }

  /** Every host name wharf answers for, grouped by registry (name first, then aliases). */
  hostGroups(): Map<string, string[]> {
    const groups = new Map<string, string[]>();
    for (const [host, reg] of this.#byName) groups.set(reg, [...(groups.get(reg) ?? []), host]);
    return groups;
  }

  /** The registry of a request that names no repository (`/v2/`, `/v2/_catalog`). */
  registryWithoutName(opts: { servername?: string; host?: string; ns?: string | null }): string {
    const registry =
      this.registryForHost(opts.servername) ??
      this.registryForHost(opts.host) ??
      (opts.ns ? this.registryForHost(opts.ns) : undefined);
    if (!registry && opts.ns)
      throw new WharfError("NAME_UNKNOWN", `registry "${opts.ns.slice(0, 100)}" is not configured in wharf`);
    return registry ?? this.#default;
  }

  route(opts: { name: string; servername?: string; host?: string; ns?: string | null }): Routed {
    const key = `${opts.servername ?? ""}\0${opts.host ?? ""}\0${opts.ns ?? "\0"}\0${opts.name}`;
    const known = this.#routeMemo.get(key);
    if (known) return known;
    const routed = Object.freeze(this.#route(opts));
    if (this.#routeMemo.size >= MEMO_MAX) this.#routeMemo.clear();
    this.#routeMemo.set(key, routed);
    return routed;
  }

  #route(opts: { name: string; servername?: string; host?: string; ns?: string | null }): Routed {
    const fromSni = this.registryForHost(opts.servername);
    const fromHost = this.registryForHost(opts.host);
    let registry: string | undefined;
    let repository = opts.name;
    let via: Routed["via"] = "host";
    if (fromSni || fromHost) {
      registry = fromSni ?? fromHost;
    } else if (opts.ns) {
      registry = this.registryForHost(opts.ns);
      via = "ns";
      if (!registry)
        throw new WharfError(
          "NAME_UNKNOWN",
          `registry "${opts.ns.slice(0, 100)}" is not configured in wharf`,
        );
    } else {
      const slash = opts.name.indexOf("/");
      const first = slash > 0 ? opts.name.slice(0, slash) : "";
      const prefixed = first.includes(".") || first.includes(":") ? this.registryForHost(first) : undefined;
      if (prefixed) {
        registry = prefixed;
        repository = opts.name.slice(slash + 1);
        via = "prefix";
      } else if (first.includes(".") || first.includes(":")) {
        throw new WharfError("NAME_UNKNOWN", `registry "${first.slice(0, 100)}" is not configured in wharf`);
      } else {
        registry = this.#default;
        via = "default";
      }
    }
    const name = registry as string;
    return { registry: name, repository: assertRepository(withDockerHubLibrary(name, repository)), via };
  }
}
