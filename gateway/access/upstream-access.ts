// access: upstream — the upstream decides whether a client may pull a repository, with the
// client's own credentials: a token exchange at the upstream's realm with them (what the client
// would do itself), then a manifest HEAD of the reference the client asked for, or, when there is
// none (wharf's token endpoint, a blob), a one-entry tags list of the repository. Both need `pull`
// on the repository at every registry wharf proxies. The answer is cached per client and repository
// (decision-cache.ts); the credentials live only for the length of the check.

import { isWharfError } from "../../common/errors.ts";
import type { Credentials } from "../config/load-config.ts";
import { Secret } from "../config/secret.ts";
import type { Logger } from "../log.ts";
import type { UpstreamClient } from "../upstream/upstream-client.ts";
import { isOutage } from "../upstream/upstream-errors.ts";
import type { DecisionCache, UpstreamDecision } from "./decision-cache.ts";

export type UpstreamClientId = { user: string; password: string } | { address: string };

export class UpstreamAccess {
  readonly registry: string;
  readonly #upstream: UpstreamClient;
  readonly #cache: DecisionCache;
  readonly #log: Logger;
  readonly #pending = new Map<string, Promise<UpstreamDecision>>();

  constructor(opts: { registry: string; upstream: UpstreamClient; cache: DecisionCache; log: Logger }) {
    this.registry = opts.registry;
    this.#upstream = opts.upstream;
    this.#cache = opts.cache;
    this.#log = opts.log;
  }

  /** May `client` pull `repository` (`reference`: the manifest asked for, when there is one)? */
  async check(client: UpstreamClientId, repository: string, reference?: string): Promise<UpstreamDecision> {
    const clientKey = this.#cache.clientKey(this.registry, client);
    const allowKey = `${clientKey}\0${repository}`;
    // a refusal may be about the reference (a 404 for a tag): kept per reference, an allow per repository
    const refuseKey = `${allowKey}\0${reference ?? ""}`;
    const known = this.#cache.fresh(allowKey) ?? this.#cache.fresh(refuseKey);
    if (known) return known;
    let pending = this.#pending.get(refuseKey);
    if (!pending) {
      pending = this.#ask(client, repository, reference)
        .then((d) => {
          if (d.status === 503) {
            const before = this.#cache.staleAllowed(allowKey);
            return before ? { ...before, reason: `${d.reason}; allowed before (stale)` } : d;
          }
          this.#cache.put(d.allowed ? allowKey : refuseKey, d);
          return d;
        })
        .finally(() => this.#pending.delete(refuseKey));
      this.#pending.set(refuseKey, pending);
    }
    return pending;
  }

  async #ask(client: UpstreamClientId, repository: string, reference?: string): Promise<UpstreamDecision> {
    const credentials: Credentials | undefined =
      "user" in client ? { username: client.user, password: new Secret(client.password) } : undefined;
    const auth = this.#upstream.authFor(credentials);
    try {
      const res = reference
        ? await this.#upstream.request("HEAD", `${repository}/manifests/${reference}`, { repository, auth })
        : await this.#upstream.request("GET", `${repository}/tags/list?n=1`, { repository, auth });
      await res.body.dump();
      if (res.status === 200) return { allowed: true, status: 200, reason: "upstream 200" };
      if (res.status === 401 || res.status === 403 || res.status === 404)
        return { allowed: false, status: res.status, reason: `upstream ${res.status}` };
      if (res.status === 429 || res.status >= 500)
        return { allowed: false, status: 503, reason: `upstream ${res.status}` };
      return { allowed: false, status: 403, reason: `upstream ${res.status}` };
    } catch (e) {
      // the token service refused the client's credentials
      if (isWharfError(e, "UNAUTHORIZED"))
        return { allowed: false, status: 401, reason: "upstream 401 (login)" };
      if (isOutage(e) || isWharfError(e)) {
        this.#log.warn(
          { registry: this.registry, repository, err: (e as Error).message },
          "upstream access check failed",
        );
        return { allowed: false, status: 503, reason: "upstream unavailable" };
      }
      throw e;
    }
  }
}
