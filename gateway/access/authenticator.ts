// Who a registry client is, as the HTTP layer needs to know it. The Docker token flow
// (distribution's "Token Authentication Specification"): a 401 carries
// `WWW-Authenticate: Bearer realm=…,service=…,scope=…`; the client fetches a short-lived token
// from the realm with its credentials and retries with `Authorization: Bearer <token>`.
// Basic credentials on registry requests are accepted too.
import type { Hono } from "hono";

export type Action = "pull" | "push" | "delete";

/**
 * An htpasswd user, a robot token (by its name), a client known only by the login it holds at an
 * `access: upstream` registry's upstream, or nobody.
 */
export type Identity =
  | { kind: "user"; name: string }
  | { kind: "robot"; name: string; id: string }
  | { kind: "upstream"; name: string }
  | { kind: "anonymous" };

/** One registry request, as the access decision needs it. */
export interface AccessRequest {
  authorization: string | undefined;
  /** The host the client reached (a token's audience). */
  host: string;
  /** The connection's source address. */
  address: string | undefined;
  registry: string;
  registryKind: "proxy" | "hosted";
  /** A hosted registry's `hosted.anonymousPull`. */
  anonymousPull: boolean;
  repository: string;
  /** The <name> of the request path (a token's scopes name it). */
  clientName: string;
  action: Action;
  /** The manifest reference asked for, when there is one. */
  reference?: string;
}

export interface AccessDecision {
  allowed: boolean;
  identity: Identity;
  /** What decided, for the audit: "rule 2", "default", "token", "upstream 403", … */
  by: string;
  /** The upstream's refusal (401/403/404) or 503 when it could not be asked. */
  upstreamStatus?: number;
  /** The client sent a wharf Bearer token (a refusal asks for a new one). */
  bearer: boolean;
}

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
    /** containerd's `?ns=` (the registry on a mirror endpoint), carried on the realm's URL. */
    ns?: string;
  }): string;
  /**
   * Whether the request may do what it asks. Throws WharfError("UNAUTHORIZED") for credentials that
   * prove nothing (as identify()). Never logs or echoes a credential.
   */
  authorize(req: AccessRequest): Promise<AccessDecision>;
  /**
   * Whether `/v2/` on this registry's host names asks anonymous clients to log in, so that
   * `docker login <name>` checks the password: an `access: upstream` registry (its upstream checks
   * it), or any registry once wharf has users or robot tokens.
   */
  asksForLogin?(registry: string): boolean;
  /**
   * May this identity (a user or a live robot token) pull registry/repository, decided from the
   * rules and cached upstream answers only (never asking an upstream)?
   */
  mayPullNow?(
    identified: Identified,
    address: string | undefined,
    registry: string,
    repository: string,
  ): boolean;
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
