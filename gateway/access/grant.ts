// The one place that decides which actions an identity gets on a repository. Both the token
// endpoint (what goes into a token) and Basic-authenticated requests ask here, so the rules of
// issue 16 (per-registry globs, groups, networks) replace defaultGrant and nothing else.
import type { Action, Identity, Scope } from "./authenticator.ts";

/** What else a decision may depend on. */
export interface GrantContext {
  /** The host the client reached (the token's service). */
  service?: string;
}

/** The actions of `scope.actions` that `identity` gets; the rest is denied. */
export type Grant = (identity: Identity, scope: Scope, context: GrantContext) => Action[];

/**
 * Until rules exist: a user gets what it asks for; anonymous gets `pull` everywhere. Whether an
 * anonymous pull of a hosted repository is allowed is decided by the HTTP layer
 * (`hosted.anonymousPull`), which sees the registry; pulls from proxied registries stay open as before.
 */
export const defaultGrant: Grant = (identity, scope) => {
  const allowed: readonly Action[] = identity.kind === "user" ? ["pull", "push", "delete"] : ["pull"];
  return scope.actions.filter((a) => allowed.includes(a));
};

/** Each scope with its granted actions, dropping scopes where nothing was granted. */
export function grantAll(grant: Grant, identity: Identity, scopes: Scope[], context: GrantContext): Scope[] {
  return scopes
    .map((s) => ({ repository: s.repository, actions: grant(identity, s, context) }))
    .filter((s) => s.actions.length > 0);
}
