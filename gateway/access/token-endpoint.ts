// The token endpoint (the `realm` of wharf's Bearer challenges), mounted at TOKEN_PATH:
// - GET ?service=S&scope=repository:NAME:pull,push&scope=… with optional Basic credentials
//   (distribution docs "spec/auth/token.md"; docker, skopeo and dockerd use this form);
// - POST with a form grant_type=password&username&password&scope&service&client_id
//   (distribution docs "spec/auth/oauth.md"; containerd uses it when it has a password).
// Without credentials a client gets an anonymous token with what anonymous may do (grant.ts).
import { Hono } from "hono";
import { WharfError } from "../../common/errors.ts";
import type { Logger } from "../log.ts";
import type { Identity, Scope } from "./authenticator.ts";
import { parseAuthorization } from "./authorization-header.ts";
import { formatScope, parseScopes } from "./scope.ts";
import type { TokenService } from "./token-service.ts";

/**
 * Who the credentials prove and what they get for each requested scope (access-control.ts).
 * Throws WharfError UNAUTHORIZED for credentials that prove nothing.
 */
export type TokenGrant = (req: {
  login: { user: string; password: string } | undefined;
  service: string;
  /** containerd's ?ns= carried on the realm (the registry of a mirror endpoint). */
  ns: string | undefined;
  address: string | undefined;
  scopes: Scope[];
}) => Promise<{
  identity: Identity;
  access: Scope[];
  refused: { name: string; status: number }[];
  ttlSeconds?: number;
  describe(): string[];
}>;

export interface TokenEndpointOptions {
  tokens: TokenService;
  grant: TokenGrant;
  log: Logger;
}

// RFC 6749 section 5.1: token responses must not be cached.
const NO_STORE = { "cache-control": "no-store", pragma: "no-cache" };

function addressOf(env: unknown): string | undefined {
  return (env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming?.socket
    ?.remoteAddress;
}

export function tokenEndpoint(opts: TokenEndpointOptions): Hono {
  const app = new Hono();

  async function issue(
    login: { user: string; password: string } | undefined,
    service: string,
    ns: string | undefined,
    address: string | undefined,
    requested: Scope[],
  ) {
    const g = await opts.grant({ login, service, ns, address, scopes: requested });
    const issued = await opts.tokens.issue(g.identity, service, g.access, {
      refused: g.refused,
      ...(g.ttlSeconds !== undefined && { ttlSeconds: g.ttlSeconds }),
    });
    opts.log.debug(
      {
        client: g.identity.kind === "anonymous" ? undefined : g.identity.name,
        service,
        access: g.describe(),
      },
      "token issued",
    );
    return { ...issued, access: g.access };
  }

  app.get("/", async function tokenGet(c) {
    const service = hostOf(c.req.query("service") || c.req.header("host"));
    const requested = parseScopes(c.req.queries("scope") ?? []);
    // `account` names the user the client means; the Basic credentials prove who it is, and win.
    const credentials = parseAuthorization(c.req.header("authorization"));
    const login =
      credentials?.scheme === "basic"
        ? { user: credentials.user, password: credentials.password }
        : undefined;
    const { token, expiresIn, issuedAt } = await issue(
      login,
      service,
      c.req.query("ns"),
      addressOf(c.env),
      requested,
    );
    return c.json(
      { token, access_token: token, expires_in: expiresIn, issued_at: issuedAt.toISOString() },
      200,
      NO_STORE,
    );
  });

  app.post("/", async function tokenPost(c) {
    const form = await c.req.parseBody({ all: true }).catch(() => ({}) as Record<string, unknown>);
    const field = (name: string): string | undefined => {
      const v = form[name];
      return typeof v === "string" ? v : Array.isArray(v) && typeof v[0] === "string" ? v[0] : undefined;
    };
    const grantType = field("grant_type");
    if (grantType !== "password") {
      // refresh_token is never handed out; a client that tries one falls back to its password (GET).
      const error = grantType === undefined ? "invalid_request" : "unsupported_grant_type";
      return c.json({ error, error_description: "wharf accepts grant_type=password" }, 400, NO_STORE);
    }
    const username = field("username");
    const password = field("password");
    if (!username || password === undefined) {
      return c.json(
        { error: "invalid_request", error_description: "username and password are required" },
        400,
        NO_STORE,
      );
    }
    const raw = form.scope;
    const scopes = (Array.isArray(raw) ? raw : [raw]).filter((s): s is string => typeof s === "string");
    const service = hostOf(field("service") || c.req.header("host"));
    let issued: Awaited<ReturnType<typeof issue>>;
    try {
      issued = await issue(
        { user: username, password },
        service,
        c.req.query("ns"),
        addressOf(c.env),
        parseScopes(scopes),
      );
    } catch (e) {
      if (!(e instanceof WharfError) || e.code !== "UNAUTHORIZED") throw e;
      opts.log.info({ service }, "token request refused: wrong credentials");
      return c.json({ error: "invalid_grant", error_description: "authentication failed" }, 401, NO_STORE);
    }
    const { token, expiresIn, issuedAt, access } = issued;
    return c.json(
      {
        access_token: token,
        token_type: "Bearer",
        expires_in: expiresIn,
        scope: access.map(formatScope).join(" "),
        issued_at: issuedAt.toISOString(),
      },
      200,
      NO_STORE,
    );
  });

  app.onError(function tokenError(err, c) {
    const e =
      err instanceof WharfError ? err : new WharfError("INTERNAL", "token endpoint failed", { cause: err });
    if (e.code === "INTERNAL") opts.log.error({ err: e.cause }, "token endpoint failed");
    // OCI-shaped body; a Basic challenge so that generic HTTP clients know what to send.
    const headers = e.status === 401 ? { ...NO_STORE, "www-authenticate": 'Basic realm="wharf"' } : NO_STORE;
    return c.json(e.toOciBody(), e.status as 401, headers);
  });

  return app;
}

/** The service a token is for: the one the client names (from our challenge), else its Host header. */
export function hostOf(host: string | undefined): string {
  return (host ?? "").trim().toLowerCase();
}
