// Content discovery (OCI distribution spec: "Listing Tags" end-8a/8b, "Listing Referrers"
// end-12a/12b) and the catalog (distribution's `_catalog`, hosted registries only).
import type { Hono } from "hono";
import { WharfError } from "../../common/errors.ts";
import { parseDigest } from "../oci/digest.ts";
import { OCI_INDEX } from "../oci/media-types.ts";
import { isHosted } from "../registry/registry.ts";
import { authorize } from "./access-check.ts";
import type { Ctx, Env } from "./http-env.ts";
import { sendReply, tagsReply } from "./reply-content.ts";
import type { RouteDeps } from "./route-deps.ts";
import { registryOf, type Target, targetOf } from "./target.ts";
import { API_VERSION_HEADER } from "./write-reply.ts";

/** `?n=` and `?last=` of a paginated list; n must be a count (spec: "n" is an integer). */
function pageOf(c: Ctx): { n?: number; last?: string } {
  const page: { n?: number; last?: string } = {};
  const n = c.req.query("n");
  if (n !== undefined) {
    if (!/^\d{1,9}$/.test(n)) throw new WharfError("PAGINATION_NUMBER_INVALID", "?n= must be a number");
    page.n = Number(n);
  }
  const last = c.req.query("last");
  if (last !== undefined) page.last = last;
  return page;
}

/**
 * The `Link` to the next page with the path the client used (prefix and `?ns=` kept); a link
 * the backend wrote for its own repository name is rewritten, anything else passes unchanged.
 */
export function clientLink(link: string | undefined, target: Target): string | undefined {
  if (!link) return undefined;
  const own = `</v2/${target.repository}/tags/list`;
  if (!link.startsWith(own)) return link;
  let rest = link.slice(own.length);
  if (target.ns !== undefined) {
    const ns = `ns=${encodeURIComponent(target.ns)}`;
    rest = rest.startsWith("?") ? `?${ns}&${rest.slice(1)}` : rest.replace(/^>/, `?${ns}>`);
  }
  return `</v2/${target.clientName}/tags/list${rest}`;
}

export function discoveryRoutes(app: Hono<Env>, deps: RouteDeps): void {
  app.get("/v2/:name{.+}/tags/list", async function listTags(c) {
    c.get("state").event.kind = "tags";
    const target = targetOf(c, deps, c.req.param("name"));
    await authorize(c, deps.authenticator, target, "pull");
    const page = await target.registry.tags(target.repository, pageOf(c));
    return sendReply(c, tagsReply(page, clientLink(page.link, target)), page.outcome);
  });

  app.get("/v2/:name{.+}/referrers/:digest", async function listReferrers(c) {
    const ev = c.get("state").event;
    ev.kind = "referrers";
    ev.reference = c.req.param("digest");
    const target = targetOf(c, deps, c.req.param("name"));
    const registry = target.registry;
    // A registry without the referrers API answers 404, and clients fall back to the
    // `<alg>-<hex>` tag schema, which a proxied registry serves like any tag (spec, end-12a).
    if (!isHosted(registry))
      throw new WharfError("NOT_FOUND", `${registry.name} is proxied: no referrers API, use the tag schema`);
    await authorize(c, deps.authenticator, target, "pull");
    const artifactType = c.req.query("artifactType");
    const body = await registry.referrers(
      target.repository,
      parseDigest(c.req.param("digest")),
      artifactType,
    );
    const headers: Record<string, string> = {
      "content-type": OCI_INDEX,
      "content-length": String(body.length),
    };
    if (artifactType !== undefined) headers["oci-filters-applied"] = "artifactType";
    return sendReply(c, { status: 200, headers, body }, "hit");
  });

  app.get("/v2/_catalog", async function catalog(c) {
    const state = c.get("state");
    state.event.kind = "catalog";
    const registry = registryOf(c, deps);
    if (!isHosted(registry))
      throw new WharfError("UNSUPPORTED", `${registry.name} is proxied: wharf lists no catalog for it`);
    const target: Target = { registry, repository: "", clientName: "", ns: undefined };
    // every repository of a registry: as much a pull as listing one repository's tags
    await authorize(c, deps.authenticator, target, "pull");
    const page = pageOf(c);
    const { repositories, more } = await registry.catalog(page);
    const headers: Record<string, string> = { ...API_VERSION_HEADER };
    const last = repositories.at(-1);
    if (more && last !== undefined)
      headers.link = `</v2/_catalog?n=${page.n ?? repositories.length}&last=${encodeURIComponent(last)}>; rel="next"`;
    state.event.outcome = "hit";
    return c.json({ repositories }, 200, headers);
  });
}
