// Who may do what, at the HTTP layer. Without an `access` section (no authenticator) wharf behaves
// as before issue 16: pulls of proxied registries and of hosted ones with `hosted.anonymousPull`
// are open, everything else is refused. With one, every request is decided by the access rules,
// robot tokens and, for `access: upstream` registries, the upstream (access/access-control.ts).
// A refusal of a client that could succeed by authenticating is a 401 with the challenge that
// starts Docker's token flow (distribution, "Token Authentication Specification"); a client whose
// upstream refused gets the upstream's answer; an authenticated client who may not gets 403 DENIED.

import { isWharfError, WharfError } from "../../common/errors.ts";
import { type AccessNote, clientLabel } from "../access/access-audit.ts";
import type { Action, Authenticator, Scope } from "../access/authenticator.ts";
import { isHosted } from "../registry/registry.ts";
import { type Ctx, realmOf } from "./http-env.ts";
import type { Target } from "./target.ts";

function scopeFor(repository: string, action: Action): Scope {
  // docker asks for pull and push together when it pushes; a delete needs its own action
  return { repository, actions: action === "push" ? ["pull", "push"] : [action] };
}

/** What the audit of the authenticator counts; absent on test doubles. */
interface Audited {
  audit?: { noteDenial(registry: string, repository: string, note: AccessNote): void };
}

/** Throws unless the request may perform `action` on `target`. */
export async function authorize(
  c: Ctx,
  authenticator: (Authenticator & Audited) | undefined,
  target: Target,
  action: Action,
  reference?: string,
): Promise<void> {
  const registry = target.registry;
  const hosted = isHosted(registry);
  if (!authenticator) {
    if (action === "pull" && (!hosted || registry.anonymousPull)) return;
    throw new WharfError(
      "DENIED",
      `${action === "pull" ? "pulling from" : action === "push" ? "pushing to" : "deleting from"} ${registry.name} needs a user, and wharf has none: configure access.htpasswd`,
    );
  }
  const realm = realmOf(c);
  const ns = target.ns;
  const scope = scopeFor(target.clientName, action);
  const authorization = c.req.header("authorization");
  const address = c.env.incoming.socket?.remoteAddress;
  let d: Awaited<ReturnType<Authenticator["authorize"]>>;
  try {
    d = await authenticator.authorize({
      authorization,
      host: realm.host,
      address,
      registry: registry.name,
      registryKind: registry.kind,
      anonymousPull: hosted ? registry.anonymousPull : true,
      repository: target.repository,
      clientName: target.clientName,
      action,
      ...(reference !== undefined && { reference }),
    });
  } catch (e) {
    if (isWharfError(e, "UNAUTHORIZED"))
      throw new WharfError("UNAUTHORIZED", e.message, {
        headers: {
          "www-authenticate": authenticator.challenge({
            ...realm,
            scope,
            error: "invalid_token",
            ...(ns && { ns }),
          }),
        },
      });
    throw e;
  }
  const note = {
    client: clientLabel(d.identity),
    address,
    action,
    decision: d.allowed ? ("allowed" as const) : ("denied" as const),
    by: d.by,
  };
  c.get("state").event.access = note;
  if (d.allowed) return;
  authenticator.audit?.noteDenial(registry.name, target.repository, note);
  const what = `${action} on ${target.clientName}`;
  const challenge = (error?: "insufficient_scope") =>
    authenticator.challenge({ ...realm, scope, ...(error && { error }), ...(ns && { ns }) });
  // the upstream refused this client: its answer, whatever wharf has cached
  if (d.upstreamStatus === 503)
    throw new WharfError("UPSTREAM_UNAVAILABLE", `cannot ask the upstream whether ${what} is allowed`);
  if (d.upstreamStatus === 404)
    throw new WharfError("NAME_UNKNOWN", `repository ${target.clientName} not known to upstream`);
  if (d.upstreamStatus === 403) throw new WharfError("DENIED", `the upstream denies ${what}`);
  if (d.identity.kind === "anonymous" || d.upstreamStatus === 401 || d.bearer) {
    // anonymous: log in and retry; a token without this scope: ask for a new one
    throw new WharfError(
      "UNAUTHORIZED",
      d.identity.kind === "anonymous" ? "authentication required" : `${what} is not granted`,
      {
        headers: { "www-authenticate": challenge(d.bearer ? "insufficient_scope" : undefined) },
      },
    );
  }
  throw new WharfError("DENIED", `${what} is not allowed for this client`);
}

/**
 * True when the request proves an identity that may push to `target` (credentials that are absent
 * or invalid count as no). Never throws for bad credentials: callers use it to offer more, not less.
 */
export async function mayPush(
  c: Ctx,
  authenticator: Authenticator | undefined,
  target: Target,
): Promise<boolean> {
  const authorization = c.req.header("authorization");
  if (!authenticator || authorization === undefined) return false;
  try {
    const identified = await authenticator.identify(authorization, { host: realmOf(c).host });
    return identified?.may("push", target.clientName) ?? false;
  } catch (e) {
    if (isWharfError(e, "UNAUTHORIZED")) return false;
    throw e;
  }
}

/**
 * `GET /v2/`: verifies credentials when a client sends them (so `docker login` fails on a wrong
 * password), and asks for them when wharf has users and the client may be about to push: on a
 * hosted registry's own host name, as distribution does, so `docker login <hosted registry>` runs
 * the token flow; and on the plain-HTTP listener when any registry is hosted, because docker and
 * skopeo only send credentials after `/v2/` challenged them (a push by path prefix, `/v2/<hosted
 * registry>/…`, would otherwise fail). Anonymous clients answer such a challenge with an
 * anonymous token and pull as before.
 */
export async function checkBase(
  c: Ctx,
  authenticator: Authenticator | undefined,
  challengeAnonymous: boolean,
): Promise<void> {
  if (!authenticator) return;
  const realm = realmOf(c);
  const authorization = c.req.header("authorization");
  let identified: Awaited<ReturnType<Authenticator["identify"]>>;
  try {
    identified = await authenticator.identify(authorization, { host: realm.host });
  } catch (e) {
    if (isWharfError(e, "UNAUTHORIZED"))
      throw new WharfError("UNAUTHORIZED", e.message, {
        headers: { "www-authenticate": authenticator.challenge({ ...realm, error: "invalid_token" }) },
      });
    throw e;
  }
  if (!identified && challengeAnonymous)
    throw new WharfError("UNAUTHORIZED", "authentication required", {
      headers: { "www-authenticate": authenticator.challenge(realm) },
    });
}
