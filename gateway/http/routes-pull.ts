// The pull endpoints (OCI distribution spec, "Pulling manifests" end-3, "Pulling blobs" end-2, the
// API base end-1). Routes registered with app.get answer HEAD too (hono runs them as GET).
import type { Hono } from "hono";
import { isWharfError, WharfError } from "../../common/errors.ts";
import { type Digest, parseDigest } from "../oci/digest.ts";
import { parseAccept } from "../oci/media-types.ts";
import { parseReference, type Reference } from "../oci/reference.ts";
import { isHosted } from "../registry/registry.ts";
import { authorize, checkBase, pusher } from "./access-check.ts";
import { type Ctx, type Env, requestHeader } from "./http-env.ts";
import { parseRangeHeader } from "./range-header.ts";
import { blobReply, manifestReply, sendReply } from "./reply-content.ts";
import type { RouteDeps } from "./route-deps.ts";
import { registryOf, type Target, targetOf } from "./target.ts";
import { API_VERSION_HEADER } from "./write-reply.ts";

/**
 * A pull's reference. A tag that no registry could hold names no manifest: 404 MANIFEST_UNKNOWN,
 * as the conformance suite expects for `.INVALID_MANIFEST_NAME` (pushing such a tag is a 400).
 */
function pullReference(text: string): Reference {
  try {
    return parseReference(text);
  } catch (e) {
    if (e instanceof WharfError && e.code === "TAG_INVALID")
      throw new WharfError("MANIFEST_UNKNOWN", "manifest unknown: not a valid tag", { detail: e.detail });
    throw e;
  }
}

/**
 * A pusher's HEAD for a blob its hosted repository lacks but wharf holds (a base layer pulled
 * through a proxied registry): link it, as a cross-repository mount would, so the push skips the
 * upload. dockerd never mounts across registries (docker.io to a hosted name); a HEAD that finds
 * the blob is its only way to skip one. Only a blob the pusher could read anyway is linked: one
 * linked in a repository it may pull now (rules; on an `access: upstream` registry an allowed
 * answer of its upstream for this client still fresh). Anything else stays BLOB_UNKNOWN, or a
 * pusher could read any private layer by digest.
 */
async function linkForPusher(
  c: Ctx,
  deps: RouteDeps,
  target: Target,
  d: Digest,
  e: unknown,
): Promise<boolean> {
  const registry = target.registry;
  if (!(isWharfError(e, "BLOB_UNKNOWN") || isWharfError(e, "NAME_UNKNOWN")) || !isHosted(registry))
    return false;
  const auth = deps.authenticator;
  if (!auth?.mayPullNow || !deps.linkedIn) return false;
  const who = await pusher(c, auth, target);
  if (!who) return false;
  const address = c.env.incoming.socket?.remoteAddress;
  const from = deps.linkedIn(d.value).find((l) => auth.mayPullNow?.(who, address, l.registry, l.repository));
  if (!from) return false;
  return registry.mount(target.repository, d, `${from.registry}/${from.repository}`);
}

export function pullRoutes(app: Hono<Env>, deps: RouteDeps): void {
  async function base(c: Ctx) {
    const state = c.get("state");
    state.event.kind = "base";
    // a login matters on a hosted registry's name (pushes), on any intercepted name once wharf
    // has identities or the upstream checks logins (access: upstream), and on the plain listener
    // when a registry is hosted (a push by path prefix)
    let askLogin: boolean;
    if (state.servername !== undefined) {
      const registry = registryOf(c, deps);
      askLogin = isHosted(registry) || (deps.authenticator?.asksForLogin?.(registry.name) ?? false);
    } else askLogin = [...deps.registries.values()].some(isHosted);
    await checkBase(c, deps.authenticator, askLogin);
    state.event.outcome = "hit";
    state.event.bytes = 2;
    return c.json({}, 200, API_VERSION_HEADER);
  }
  app.get("/v2/", base);
  app.get("/v2", base);

  app.get("/v2/:name{.+}/manifests/:reference", async function getManifest(c) {
    const ev = c.get("state").event;
    ev.kind = "manifest";
    const reference = c.req.param("reference");
    ev.reference = reference;
    const target = targetOf(c, deps, c.req.param("name"));
    await authorize(c, deps.authenticator, target, "pull", reference);
    const content = await target.registry.manifest(target.repository, pullReference(reference), {
      head: c.req.method === "HEAD",
      accept: parseAccept(requestHeader(c, "accept")),
    });
    return sendReply(c, manifestReply(content), content.outcome);
  });

  app.get("/v2/:name{.+}/blobs/:digest", async function getBlob(c) {
    const ev = c.get("state").event;
    ev.kind = "blob";
    const digest = c.req.param("digest");
    ev.reference = digest;
    const target = targetOf(c, deps, c.req.param("name"));
    await authorize(c, deps.authenticator, target, "pull");
    const head = c.req.method === "HEAD";
    const d = parseDigest(digest);
    const read = () =>
      target.registry.blob(target.repository, d, {
        head,
        range: head ? undefined : parseRangeHeader(requestHeader(c, "range")),
      });
    let content: Awaited<ReturnType<typeof read>>;
    try {
      content = await read();
    } catch (e) {
      if (!(await linkForPusher(c, deps, target, d, e))) throw e;
      content = await read();
    }
    return sendReply(c, blobReply(content), content.outcome);
  });
}
