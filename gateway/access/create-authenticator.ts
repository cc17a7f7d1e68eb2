// Builds the Authenticator the HTTP layer uses from the `access` section: htpasswd users, robot
// tokens, groups and rules (access-policy.ts), upstream-decided registries (upstream-access.ts),
// wharf's token service (key in dataDir), the token endpoint and the audit. Without `access`
// createAuthenticator returns undefined and the HTTP layer keeps the behaviour of old: anonymous
// pulls of every proxied registry, no pushes.
import type { Config } from "../config/schema.ts";
import type { Logger } from "../log.ts";
import type { UpstreamClient } from "../upstream/upstream-client.ts";
import { AccessAudit } from "./access-audit.ts";
import { AccessControl, type ScopeRouter } from "./access-control.ts";
import { AccessPolicy } from "./access-policy.ts";
import type { Authenticator } from "./authenticator.ts";
import { DecisionCache } from "./decision-cache.ts";
import { HtpasswdUsers } from "./htpasswd-users.ts";
import type { RobotTokenStore } from "./robot-tokens.ts";
import { TokenService } from "./token-service.ts";
import { UpstreamAccess } from "./upstream-access.ts";
import { WharfAuthenticator } from "./wharf-authenticator.ts";

export interface ClosableAuthenticator extends Authenticator {
  readonly audit: AccessAudit;
  /** Stops watching the users file. */
  close(): void;
}

type AccessConfig = NonNullable<Config["access"]>;

export interface AuthenticatorOptions {
  config: Pick<Config, "dataDir"> & {
    /** As parsed; the keys with defaults may be left out (tests). */
    access?:
      | (Omit<AccessConfig, "groups" | "upstreamDecisionTtl" | "upstreamStaleWindow"> &
          Partial<Pick<AccessConfig, "groups" | "upstreamDecisionTtl" | "upstreamStaleWindow">>)
      | undefined;
    registries?: Config["registries"];
  };
  log: Logger;
  now?: () => number;
  /** Token lifetime in seconds, default 300. */
  tokenTtlSeconds?: number;
  /** Robot tokens (the cache's database, or PostgreSQL); without it none are accepted. */
  robots?: RobotTokenStore;
  /** The replica set's shared token signing key (instead of dataDir's). */
  tokenKey?: Buffer;
  /** The upstream clients of proxied registries (those with `access: upstream` are asked). */
  upstreams?: ReadonlyMap<string, UpstreamClient>;
  /** Resolves a token request's scope to registry/repository (the gateway's router). */
  route?: ScopeRouter;
}

export async function createAuthenticator(
  opts: AuthenticatorOptions,
): Promise<ClosableAuthenticator | undefined> {
  const given = opts.config.access;
  if (!given) return undefined;
  const access: AccessConfig = {
    groups: {},
    upstreamDecisionTtl: 60_000,
    upstreamStaleWindow: 15 * 60_000,
    ...given,
  };
  const registries = opts.config.registries ?? {};
  const log = opts.log.child({ component: "access" });
  const now = opts.now ?? Date.now;
  const users = access.htpasswd
    ? await HtpasswdUsers.open(access.htpasswd, { log, ...(opts.now ? { now: opts.now } : {}) })
    : undefined;
  try {
    const tokens = await TokenService.open({
      dataDir: opts.config.dataDir,
      log,
      now,
      ...(opts.tokenTtlSeconds ? { ttlSeconds: opts.tokenTtlSeconds } : {}),
      ...(opts.tokenKey && { key: opts.tokenKey }),
    });
    const decisions = new DecisionCache({
      ttlMs: access.upstreamDecisionTtl,
      staleMs: access.upstreamStaleWindow,
      now,
    });
    const upstreams = new Map<string, UpstreamAccess>();
    for (const [name, r] of Object.entries(registries)) {
      const client = opts.upstreams?.get(name);
      if (r.access === "upstream" && client)
        upstreams.set(name, new UpstreamAccess({ registry: name, upstream: client, cache: decisions, log }));
    }
    const control = new AccessControl({
      policy: new AccessPolicy(access, registries),
      ...(users && { users }),
      ...(opts.robots && { robots: opts.robots }),
      upstreams,
      now,
    });
    return new WharfAuthenticator({
      control,
      users,
      tokens,
      audit: new AccessAudit(log, now),
      log,
      // without the gateway's router (unit tests): the name as written, in no configured registry
      route: opts.route ?? ((scope) => ({ registry: "", repository: scope.repository })),
      decisionTtlSeconds: Math.max(1, Math.floor(access.upstreamDecisionTtl / 1000)),
    });
  } catch (e) {
    users?.close();
    throw e;
  }
}
