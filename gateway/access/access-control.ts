// The access decisions of issue 16 in one place, for the two ways clients arrive: a registry
// request (authorize) and a token request (grantScopes). Local identities are htpasswd users and
// robot tokens; on an `access: upstream` registry, credentials that are not local are the client's
// login at the upstream, and the upstream decides (upstream-access.ts).

import type { AccessPolicy } from "./access-policy.ts";
import type { Action, Identity, Scope } from "./authenticator.ts";
import type { HtpasswdUsers } from "./htpasswd-users.ts";
import type { RobotScope, RobotTokenStore } from "./robot-tokens.ts";
import type { UpstreamAccess, UpstreamClientId } from "./upstream-access.ts";

export interface LocalIdentity {
  identity: Identity;
  robotScopes?: RobotScope[];
}

export interface Decided {
  allowed: boolean;
  identity: Identity;
  by: string;
  upstreamStatus?: number;
}

/** Where a scope of a token request points: registry/repository, as the router resolves it. */
export type ScopeRouter = (
  scope: Scope,
  service: string,
  ns: string | undefined,
) => { registry: string; repository: string } | undefined;

export class AccessControl {
  readonly policy: AccessPolicy;
  readonly #users: HtpasswdUsers | undefined;
  readonly #robots: RobotTokenStore | undefined;
  readonly #upstreams: ReadonlyMap<string, UpstreamAccess>;
  readonly #now: () => number;

  constructor(opts: {
    policy: AccessPolicy;
    users?: HtpasswdUsers;
    robots?: RobotTokenStore;
    upstreams: ReadonlyMap<string, UpstreamAccess>;
    now: () => number;
  }) {
    this.policy = opts.policy;
    this.#users = opts.users;
    this.#robots = opts.robots;
    this.#upstreams = opts.upstreams;
    this.#now = opts.now;
  }

  /** A robot token (user = its name, password = the token) or an htpasswd user; else undefined. */
  async local(user: string, password: string): Promise<LocalIdentity | undefined> {
    const robot = await this.#robots?.verify(password, user, this.#now());
    if (robot)
      return { identity: { kind: "robot", name: robot.name, id: robot.id }, robotScopes: robot.scopes };
    if (this.#users && (await this.#users.verify(user, password)))
      return { identity: { kind: "user", name: user } };
    return undefined;
  }

  /** A robot token named by a wharf Bearer token still exists: its scopes, else undefined (revoked). */
  async liveRobot(id: string): Promise<RobotScope[] | undefined> {
    return (await this.#robots?.live(id, this.#now()))?.scopes;
  }

  /** liveRobot's answer for this request, without asking the store again (synchronous callers). */
  liveRobotKnown(id: string): RobotScope[] | undefined {
    return this.#robots?.liveKnown(id, this.#now())?.scopes;
  }

  upstreamDecides(registry: string): boolean {
    return this.#upstreams.has(registry);
  }

  /** `docker login` through an `access: upstream` registry's name: does its upstream take this login? */
  async verifyUpstreamLogin(registry: string, user: string, password: string): Promise<Decided | undefined> {
    const upstream = this.#upstreams.get(registry);
    if (!upstream) return undefined;
    const d = await upstream.verifyLogin(user, password);
    return {
      allowed: d.allowed,
      identity: { kind: "upstream", name: user },
      by: d.reason,
      ...(d.allowed ? {} : { upstreamStatus: d.status }),
    };
  }

  /**
   * May a local identity read registry/repository, decided without asking anyone: the rules, and
   * on an `access: upstream` registry that the rules name it or an allowed upstream answer for this
   * client is still fresh. For linking a blob into a pusher's repository (routes-pull.ts).
   */
  mayPullNow(
    local: LocalIdentity,
    address: string | undefined,
    registry: string,
    repository: string,
  ): boolean {
    const upstream = this.#upstreams.get(registry);
    if (upstream && !this.policy.ruleMatches(local.identity, address, registry, repository))
      // decide() asks the upstream about a local identity as about an anonymous client from its address
      return address !== undefined && upstream.allowedBefore({ address }, repository);
    const a = this.policy.decide(local.identity, address, registry, repository, ["pull"], local.robotScopes);
    return a.actions.includes("pull");
  }

  /** True when wharf has users or robot tokens (a login on `/v2/` then means something). */
  hasLocalIdentities(): boolean {
    return (this.#users?.size ?? 0) > 0 || (this.#robots?.any(this.#now()) ?? false);
  }

  /**
   * The decision for one action of a client that proved `local` (or nothing) and maybe holds an
   * upstream login. On an `access: upstream` registry a rule naming the local identity decides;
   * otherwise the upstream does, with the client's login or as an anonymous client from `address`.
   */
  async decide(opts: {
    local: LocalIdentity | undefined;
    login: { user: string; password: string } | undefined;
    address: string | undefined;
    registry: string;
    repository: string;
    action: Action;
    reference?: string;
  }): Promise<Decided> {
    const identity: Identity = opts.local?.identity ?? { kind: "anonymous" };
    const upstream = this.#upstreams.get(opts.registry);
    const byRule =
      !upstream ||
      (opts.local !== undefined &&
        this.policy.ruleMatches(identity, opts.address, opts.registry, opts.repository));
    if (byRule || opts.action !== "pull") {
      const a = this.policy.decide(
        identity,
        opts.address,
        opts.registry,
        opts.repository,
        [opts.action],
        opts.local?.robotScopes,
      );
      return { allowed: a.actions.includes(opts.action), identity, by: a.by };
    }
    const client: UpstreamClientId = opts.login ?? { address: opts.address ?? "unknown" };
    const d = await upstream.check(client, opts.repository, opts.reference);
    return {
      allowed: d.allowed,
      identity: opts.login ? { kind: "upstream", name: opts.login.user } : identity,
      by: d.reason,
      ...(d.allowed ? {} : { upstreamStatus: d.status }),
    };
  }
}
