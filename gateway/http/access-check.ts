// Who may do what, at the HTTP layer. Pushes and deletes always need an identity that may do them;
// pulls need one only from a hosted registry with `hosted.anonymousPull: false`; proxied registries
// are pulled anonymously (wharf authenticates to the upstream itself). A refusal of a client that
// could succeed by authenticating is a 401 with the challenge that starts Docker's token flow
// (distribution, "Token Authentication Specification"); a user who may not is a 403 DENIED.
import type { Action, Authenticator, Scope } from "../access/authenticator.ts";
import { isWharfError, WharfError } from "../errors.ts";
import { isHosted } from "../registry/registry.ts";
import { type Ctx, realmOf } from "./http-env.ts";
import type { Target } from "./target.ts";

function scopeFor(repository: string, action: Action): Scope {
  // docker asks for pull and push together when it pushes; a delete needs its own action
  return { repository, actions: action === "push" ? ["pull", "push"] : [action] };
}

/** Throws unless the request may perform `action` on `target`. */
export async function authorize(
  c: Ctx,
  authenticator: Authenticator | undefined,
  target: Target,
  action: Action,
): Promise<void> {
  const registry = target.registry;
  if (action === "pull" && (!isHosted(registry) || registry.anonymousPull)) return;
  if (!authenticator)
    throw new WharfError(
      "DENIED",
      `${action === "pull" ? "pulling from" : action === "push" ? "pushing to" : "deleting from"} ${registry.name} needs a user, and wharf has none: configure access.htpasswd`,
    );
  const realm = realmOf(c);
  const scope = scopeFor(target.clientName, action);
  const authorization = c.req.header("authorization");
  let identified: Awaited<ReturnType<Authenticator["identify"]>>;
  try {
    identified = await authenticator.identify(authorization, { host: realm.host });
  } catch (e) {
    if (isWharfError(e, "UNAUTHORIZED"))
      throw new WharfError("UNAUTHORIZED", e.message, {
        headers: { "www-authenticate": authenticator.challenge({ ...realm, scope, error: "invalid_token" }) },
      });
    throw e;
  }
  if (!identified)
    throw new WharfError("UNAUTHORIZED", "authentication required", {
      headers: { "www-authenticate": authenticator.challenge({ ...realm, scope }) },
    });
  if (identified.may(action, target.clientName)) return;
  // A token without this scope: ask for a new one (the client retries with the challenge's scope).
  // A user (Basic) who may not: no token would help.
  if (authorization !== undefined && /^bearer /i.test(authorization))
    throw new WharfError("UNAUTHORIZED", `the token does not grant ${action} on ${target.clientName}`, {
      headers: {
        "www-authenticate": authenticator.challenge({ ...realm, scope, error: "insufficient_scope" }),
      },
    });
  throw new WharfError("DENIED", `${action} on ${target.clientName} is not allowed for this user`);
}

/**
 * `GET /v2/`: verifies credentials when a client sends them (so `docker login` fails on a wrong
 * password), and asks for them on a hosted registry's own host name when wharf has users, as
 * distribution does, so `docker login <hosted registry>` runs the token flow.
 */
export async function checkBase(
  c: Ctx,
  authenticator: Authenticator | undefined,
  hostedByHost: boolean,
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
  if (!identified && hostedByHost)
    throw new WharfError("UNAUTHORIZED", "authentication required", {
      headers: { "www-authenticate": authenticator.challenge(realm) },
    });
}
