// The Authenticator of an `access` section (create-authenticator.ts builds it): identify() and
// authorize() for registry requests, the token endpoint's grants, the `/v2/` login question and the
// pusher's blob-link check, all decided by AccessControl; challenges for Docker's token flow.
import { WharfError } from "../../common/errors.ts";
import type { Logger } from "../log.ts";
import { type AccessAudit, clientLabel } from "./access-audit.ts";
import type { AccessControl, LocalIdentity, ScopeRouter } from "./access-control.ts";
import {
  type AccessDecision,
  type AccessRequest,
  type Identified,
  type Identity,
  type Scope,
  TOKEN_PATH,
} from "./authenticator.ts";
import { authenticationFailed, parseAuthorization } from "./authorization-header.ts";
import type { ClosableAuthenticator } from "./create-authenticator.ts";
import type { HtpasswdUsers } from "./htpasswd-users.ts";
import { formatScope } from "./scope.ts";
import { type TokenGrant, tokenEndpoint } from "./token-endpoint.ts";
import type { TokenService } from "./token-service.ts";

export class WharfAuthenticator implements ClosableAuthenticator {
  readonly routes;
  readonly audit: AccessAudit;
  readonly #control: AccessControl;
  readonly #users: HtpasswdUsers | undefined;
  readonly #tokens: TokenService;
  readonly #route: ScopeRouter;
  readonly #decisionTtlSeconds: number;

  constructor(o: {
    control: AccessControl;
    users: HtpasswdUsers | undefined;
    tokens: TokenService;
    audit: AccessAudit;
    log: Logger;
    route: ScopeRouter;
    decisionTtlSeconds: number;
  }) {
    this.#control = o.control;
    this.#users = o.users;
    this.#tokens = o.tokens;
    this.audit = o.audit;
    this.#route = o.route;
    this.#decisionTtlSeconds = o.decisionTtlSeconds;
    this.routes = tokenEndpoint({ tokens: o.tokens, grant: (g) => this.#grantToken(g), log: o.log });
  }

  async identify(
    authorization: string | undefined,
    opts: { host?: string } = {},
  ): Promise<Identified | undefined> {
    const credentials = parseAuthorization(authorization);
    if (!credentials) return undefined;
    const service = opts.host === undefined ? undefined : normalizeHost(opts.host);
    if (credentials.scheme === "bearer") {
      const { identity, access } = await this.#tokens.verify(credentials.token, service);
      if (identity.kind === "robot" && !(await this.#control.liveRobot(identity.id)))
        throw authenticationFailed();
      return { identity, may: (action, repository) => tokenAllows(access, action, repository) };
    }
    if (credentials.scheme === "basic") {
      const local = await this.#control.local(credentials.user, credentials.password);
      if (local) return { identity: local.identity, may: () => true };
      // a login for an upstream that decides: the upstream says whether it is one
      const registry = service === undefined ? undefined : this.#upstreamOf(service, undefined);
      if (registry !== undefined) {
        await this.#verifyUpstreamLogin(registry, credentials.user, credentials.password);
        return { identity: { kind: "upstream", name: credentials.user }, may: () => false };
      }
      throw authenticationFailed();
    }
    throw authenticationFailed();
  }

  async authorize(req: AccessRequest): Promise<AccessDecision> {
    const credentials = parseAuthorization(req.authorization);
    if (credentials?.scheme === "bearer") {
      const v = await this.#tokens.verify(credentials.token, normalizeHost(req.host));
      if (v.identity.kind === "robot" && !(await this.#control.liveRobot(v.identity.id)))
        throw authenticationFailed();
      const allowed = tokenAllows(v.access, req.action, req.clientName);
      const refused = allowed ? undefined : v.refused.find((r) => r.name === req.clientName);
      return {
        allowed,
        identity: v.identity,
        by: refused ? `upstream ${refused.status}` : "token",
        ...(refused && { upstreamStatus: refused.status }),
        bearer: true,
      };
    }
    if (credentials && credentials.scheme !== "basic") throw authenticationFailed();
    let local: LocalIdentity | undefined;
    let login: { user: string; password: string } | undefined;
    if (credentials) {
      local = await this.#control.local(credentials.user, credentials.password);
      if (!local) {
        // not ours: the client's login at the upstream, where the upstream decides; elsewhere wrong
        if (!this.#control.upstreamDecides(req.registry)) throw authenticationFailed();
        login = { user: credentials.user, password: credentials.password };
      }
    }
    const d = await this.#control.decide({
      local,
      login,
      address: req.address,
      registry: req.registry,
      repository: req.repository,
      action: req.action,
      ...(req.reference !== undefined && { reference: req.reference }),
    });
    return { ...d, bearer: false };
  }

  async #grantToken(g: Parameters<TokenGrant>[0]): ReturnType<TokenGrant> {
    const local = g.login ? await this.#control.local(g.login.user, g.login.password) : undefined;
    const routed = g.scopes.map((s) => ({ scope: s, to: this.#route(s, g.service, g.ns) }));
    const upstreamLogin =
      g.login !== undefined &&
      local === undefined &&
      (routed.some((r) => r.to && this.#control.upstreamDecides(r.to.registry)) ||
        (routed.length === 0 && this.#serviceIsUpstream(g.service, g.ns)));
    if (g.login && !local && !upstreamLogin) throw authenticationFailed();
    // `docker login` (a token request without scopes): the upstream checks the password now, so
    // that a wrong one fails the login instead of every pull after it
    const loginAt = upstreamLogin && routed.length === 0 ? this.#upstreamOf(g.service, g.ns) : undefined;
    if (g.login && loginAt !== undefined)
      await this.#verifyUpstreamLogin(loginAt, g.login.user, g.login.password, g.address);
    const identity: Identity =
      local?.identity ?? (g.login ? { kind: "upstream", name: g.login.user } : { kind: "anonymous" });
    const access: Scope[] = [];
    const refused: { name: string; status: number }[] = [];
    let upstreamAnswered = false;
    for (const { scope, to } of routed) {
      if (!to) continue;
      const actions: Scope["actions"] = [];
      for (const action of scope.actions) {
        const d = await this.#control.decide({
          local,
          login: upstreamLogin ? g.login : undefined,
          address: g.address,
          registry: to.registry,
          repository: to.repository,
          action,
        });
        if (this.#control.upstreamDecides(to.registry) && action === "pull") upstreamAnswered = true;
        this.audit.logDecision(to.registry, to.repository, {
          client: clientLabel(d.identity),
          address: g.address,
          action,
          decision: d.allowed ? "allowed" : "denied",
          by: d.by,
        });
        if (d.allowed) actions.push(action);
        else if (d.upstreamStatus !== undefined)
          refused.push({ name: scope.repository, status: d.upstreamStatus });
      }
      if (actions.length > 0) access.push({ repository: scope.repository, actions });
    }
    return {
      identity,
      access,
      refused,
      ...(upstreamAnswered && { ttlSeconds: this.#decisionTtlSeconds }),
      describe: () => access.map(formatScope),
    };
  }

  #serviceIsUpstream(service: string, ns: string | undefined): boolean {
    return this.#upstreamOf(service, ns) !== undefined;
  }

  /** The `access: upstream` registry a host name (and ns) stands for, if it is one. */
  #upstreamOf(service: string, ns: string | undefined): string | undefined {
    const to = this.#route({ repository: "x", actions: [] }, service, ns);
    return to !== undefined && this.#control.upstreamDecides(to.registry) ? to.registry : undefined;
  }

  /** Throws UNAUTHORIZED (or UPSTREAM_UNAVAILABLE) unless the upstream accepts the login. */
  async #verifyUpstreamLogin(registry: string, user: string, password: string, address?: string) {
    const d = await this.#control.verifyUpstreamLogin(registry, user, password);
    if (!d || d.allowed) return;
    this.audit.logDecision(registry, "", {
      client: clientLabel(d.identity),
      address,
      action: "pull",
      decision: "denied",
      by: `login: ${d.by}`,
    });
    if (d.upstreamStatus === 503)
      throw new WharfError(
        "UPSTREAM_UNAVAILABLE",
        `cannot ask ${registry}'s upstream whether the login is valid`,
      );
    throw authenticationFailed();
  }

  asksForLogin(registry: string): boolean {
    return this.#control.upstreamDecides(registry) || this.#control.hasLocalIdentities();
  }

  mayPullNow(identified: Identified, address: string | undefined, registry: string, repository: string) {
    const identity = identified.identity;
    let local: LocalIdentity;
    if (identity.kind === "user") local = { identity };
    else if (identity.kind === "robot") {
      const scopes = this.#control.liveRobotKnown(identity.id);
      if (!scopes) return false;
      local = { identity, robotScopes: scopes };
    } else return false;
    return this.#control.mayPullNow(local, address, registry, repository);
  }

  challenge(opts: {
    host: string;
    scope?: Scope;
    error?: "invalid_token" | "insufficient_scope";
    scheme?: "http" | "https";
    ns?: string;
  }): string {
    const host = normalizeHost(opts.host);
    // containerd's ?ns= names the registry on a mirror endpoint: the token request must know it too
    const ns = opts.ns ? `?ns=${encodeURIComponent(opts.ns)}` : "";
    const params = [
      `realm="${opts.scheme ?? "https"}://${quotable(host)}${TOKEN_PATH}${quotable(ns)}"`,
      `service="${quotable(host)}"`,
    ];
    if (opts.scope) params.push(`scope="${quotable(formatScope(opts.scope))}"`);
    if (opts.error) params.push(`error="${opts.error}"`);
    return `Bearer ${params.join(",")}`;
  }

  close(): void {
    this.#users?.close();
  }
}

function tokenAllows(access: Scope[], action: Scope["actions"][number], repository: string): boolean {
  return access.some((s) => s.repository === repository && s.actions.includes(action));
}

function normalizeHost(host: string): string {
  return host.trim().toLowerCase();
}

/** Host and repository names are validated before they get here; this keeps a header well-formed anyway. */
function quotable(text: string): string {
  return text.replace(/["\\\r\n]/g, "");
}
