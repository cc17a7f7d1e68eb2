// The token endpoint (the `realm` of wharf's Bearer challenges), mounted at TOKEN_PATH:
// - GET ?service=S&scope=repository:NAME:pull,push&scope=… with optional Basic credentials
//   (distribution docs "spec/auth/token.md"; docker, skopeo and dockerd use this form);
// - POST with a form grant_type=password&username&password&scope&service&client_id
//   (distribution docs "spec/auth/oauth.md"; containerd uses it when it has a password).
// Without credentials a client gets an anonymous token with what anonymous may do (grant.ts).
import { Hono } from "hono";
import { WharfError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Identity, Scope } from "./authenticator.ts";
import { authenticationFailed, parseAuthorization } from "./authorization-header.ts";
import { type Grant, grantAll } from "./grant.ts";
import { formatScope, parseScopes } from "./scope.ts";
import type { TokenService } from "./token-service.ts";

export interface TokenEndpointOptions {
  verify: (user: string, password: string) => Promise<boolean>;
  tokens: TokenService;
  grant: Grant;
  log: Logger;
}

// RFC 6749 section 5.1: token responses must not be cached.
const NO_STORE = { "cache-control": "no-store", pragma: "no-cache" };

export function tokenEndpoint(opts: TokenEndpointOptions): Hono {
  const app = new Hono();

  async function issue(identity: Identity, service: string, requested: Scope[]) {
    const access = grantAll(opts.grant, identity, requested, { service });
    const issued = await opts.tokens.issue(identity, service, access);
    opts.log.debug(
      {
        user: identity.kind === "user" ? identity.name : undefined,
        service,
        access: access.map(formatScope),
      },
      "token issued",
    );
    return { ...issued, access };
  }

  app.get("/", async function tokenGet(c) {
    const service = hostOf(c.req.query("service") || c.req.header("host"));
    const requested = parseScopes(c.req.queries("scope") ?? []);
    // `account` names the user the client means; the Basic credentials prove who it is, and win.
    const identity = await identifyBasic(c.req.header("authorization"), opts);
    const { token, expiresIn, issuedAt } = await issue(identity, service, requested);
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
    if (!(await opts.verify(username, password))) {
      opts.log.info({ service: field("service") }, "token request refused: wrong credentials");
      return c.json({ error: "invalid_grant", error_description: "authentication failed" }, 401, NO_STORE);
    }
    const raw = form.scope;
    const scopes = (Array.isArray(raw) ? raw : [raw]).filter((s): s is string => typeof s === "string");
    const service = hostOf(field("service") || c.req.header("host"));
    const { token, expiresIn, issuedAt, access } = await issue(
      { kind: "user", name: username },
      service,
      parseScopes(scopes),
    );
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

/** Who the GET request's Authorization header proves: anonymous without one. */
async function identifyBasic(header: string | undefined, opts: TokenEndpointOptions): Promise<Identity> {
  const credentials = parseAuthorization(header);
  if (credentials?.scheme !== "basic") return { kind: "anonymous" };
  if (await opts.verify(credentials.user, credentials.password))
    return { kind: "user", name: credentials.user };
  opts.log.info("token request refused: wrong credentials");
  throw authenticationFailed();
}

/** The service a token is for: the one the client names (from our challenge), else its Host header. */
export function hostOf(host: string | undefined): string {
  return (host ?? "").trim().toLowerCase();
}
