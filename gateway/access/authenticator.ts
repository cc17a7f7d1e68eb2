// Who a registry client is, as the HTTP layer needs to know it. The Docker token flow
// (distribution's "Token Authentication Specification"): a 401 carries
// `WWW-Authenticate: Bearer realm=…,service=…,scope=…`; the client fetches a short-lived token
// from the realm with its credentials and retries with `Authorization: Bearer <token>`.
// Basic credentials on registry requests are accepted too.
import type { Hono } from "hono";

export type Action = "pull" | "push" | "delete";

export type Identity = { kind: "user"; name: string } | { kind: "anonymous" };

/** `repository:<name>:<actions>`, with <name> as the client wrote it in the request path. */
export interface Scope {
  repository: string;
  actions: Action[];
}

export interface Authenticator {
  /**
   * The identity an `Authorization` header proves, and what it may do: a Basic user:password
   * checked against the users file, or a Bearer token issued by wharf's token endpoint (which
   * carries the granted scopes). Undefined when no header was sent. Throws
   * WharfError("UNAUTHORIZED") when a header was sent but is not valid (wrong password, expired
   * or foreign token). Never logs or echoes the credential.
   * With `host` (the host the client reached, as passed to challenge()), a Bearer token must have
   * been issued for that host: a token fetched for one registry name opens nothing under another.
   * On a throw for a `Bearer` header, answer with challenge({ …, error: "invalid_token" }) so the
   * client fetches a new token (RFC 6750 section 3.1).
   */
  identify(authorization: string | undefined, opts?: { host?: string }): Promise<Identified | undefined>;
  /**
   * The `WWW-Authenticate` value for a 401 asking for `scope`, for a client that reached `host`.
   * `scheme` is the realm's: "https" (the default) on the TLS gateway, "http" on the plain-HTTP listener.
   */
  challenge(opts: {
    host: string;
    scope?: Scope;
    error?: "invalid_token" | "insufficient_scope";
    scheme?: "http" | "https";
  }): string;
  /** The token endpoint's routes, mounted by the gateway at TOKEN_PATH on every listener. */
  readonly routes: Hono;
}

export interface Identified {
  identity: Identity;
  /** True when this identity may perform `action` on `repository` (a token: its granted scopes). */
  may(action: Action, repository: string): boolean;
}

/** Where the token endpoint lives on every listener (the realm is https://<host>/auth/token). */
export const TOKEN_PATH = "/auth/token";
