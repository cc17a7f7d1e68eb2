// Builds the Authenticator the HTTP layer uses from the `access` section: htpasswd users, wharf's
// token service (key in dataDir), the token endpoint and grant(). Without `access` there are no
// users: createAuthenticator returns undefined and the HTTP layer refuses pushes.
import type { Config } from "../config/schema.ts";
import type { Logger } from "../log.ts";
import {
  type Action,
  type Authenticator,
  type Identified,
  type Identity,
  type Scope,
  TOKEN_PATH,
} from "./authenticator.ts";
import { authenticationFailed, parseAuthorization } from "./authorization-header.ts";
import { defaultGrant, type Grant } from "./grant.ts";
import { HtpasswdUsers } from "./htpasswd-users.ts";
import { formatScope } from "./scope.ts";
import { tokenEndpoint } from "./token-endpoint.ts";
import { TokenService } from "./token-service.ts";

export interface ClosableAuthenticator extends Authenticator {
  /** Stops watching the users file. */
  close(): void;
}

export interface AuthenticatorOptions {
  config: Pick<Config, "access" | "dataDir">;
  log: Logger;
  now?: () => number;
  /** Token lifetime in seconds, default 300. */
  tokenTtlSeconds?: number;
  /** Who gets what; default: users everything they ask, anonymous pull (grant.ts). */
  grant?: Grant;
}

export async function createAuthenticator(
  opts: AuthenticatorOptions,
): Promise<ClosableAuthenticator | undefined> {
  const access = opts.config.access;
  if (!access) return undefined;
  const log = opts.log.child({ component: "access" });
  const users = await HtpasswdUsers.open(access.htpasswd, { log, ...(opts.now ? { now: opts.now } : {}) });
  try {
    const tokens = await TokenService.open({
      dataDir: opts.config.dataDir,
      log,
      ...(opts.now ? { now: opts.now } : {}),
      ...(opts.tokenTtlSeconds ? { ttlSeconds: opts.tokenTtlSeconds } : {}),
    });
    return new WharfAuthenticator(users, tokens, opts.grant ?? defaultGrant, log);
  } catch (e) {
    users.close();
    throw e;
  }
}

class WharfAuthenticator implements ClosableAuthenticator {
  readonly routes;
  readonly #users: HtpasswdUsers;
  readonly #tokens: TokenService;
  readonly #grant: Grant;

  constructor(users: HtpasswdUsers, tokens: TokenService, grant: Grant, log: Logger) {
    this.#users = users;
    this.#tokens = tokens;
    this.#grant = grant;
    this.routes = tokenEndpoint({ verify: (u, p) => users.verify(u, p), tokens, grant, log });
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
      return { identity, may: (action, repository) => tokenAllows(access, action, repository) };
    }
    if (credentials.scheme === "basic") {
      if (!(await this.#users.verify(credentials.user, credentials.password))) throw authenticationFailed();
      const identity: Identity = { kind: "user", name: credentials.user };
      const context = service === undefined ? {} : { service };
      return {
        identity,
        may: (action, repository) =>
          this.#grant(identity, { repository, actions: [action] }, context).includes(action),
      };
    }
    throw authenticationFailed();
  }

  challenge(opts: {
    host: string;
    scope?: Scope;
    error?: "invalid_token" | "insufficient_scope";
    scheme?: "http" | "https";
  }): string {
    const host = normalizeHost(opts.host);
    const params = [
      `realm="${opts.scheme ?? "https"}://${quotable(host)}${TOKEN_PATH}"`,
      `service="${quotable(host)}"`,
    ];
    if (opts.scope) params.push(`scope="${quotable(formatScope(opts.scope))}"`);
    if (opts.error) params.push(`error="${opts.error}"`);
    return `Bearer ${params.join(",")}`;
  }

  close(): void {
    this.#users.close();
  }
}

function tokenAllows(access: Scope[], action: Action, repository: string): boolean {
  return access.some((s) => s.repository === repository && s.actions.includes(action));
}

function normalizeHost(host: string): string {
  return host.trim().toLowerCase();
}

/** Host and repository names are validated before they get here; this keeps a header well-formed anyway. */
function quotable(text: string): string {
  return text.replace(/["\\\r\n]/g, "");
}
