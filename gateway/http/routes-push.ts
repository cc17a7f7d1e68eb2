// The push and delete endpoints (OCI distribution spec, "Push": end-4a/4b, end-5, end-6, end-7,
// end-11, end-13; "Content Management": end-9, end-10). Only hosted registries take writes; on a
// proxied one they are 405 UNSUPPORTED before any credential is looked at.
import type { Hono } from "hono";
import { WharfError } from "../../common/errors.ts";
import { parseDigest } from "../oci/digest.ts";
import { parseReference } from "../oci/reference.ts";
import type { HostedRegistryApi } from "../registry/registry.ts";
import { authorize } from "./access-check.ts";
import { type Ctx, type Env, hostOf } from "./http-env.ts";
import { emptyReply } from "./reply-content.ts";
import { readSmallBody } from "./request-body.ts";
import type { RouteDeps } from "./route-deps.ts";
import { clientUrl, hostedOf, type Target, targetOf } from "./target.ts";
import { blobCreatedHeaders, chunkInfo, uploadHeaders } from "./upload-headers.ts";

/** distribution's limit for a manifest; larger ones are refused (spec: 413). */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

async function pushTarget(
  c: Ctx,
  deps: RouteDeps,
  action: "push" | "delete",
): Promise<{ target: Target; hosted: HostedRegistryApi }> {
  const target = targetOf(c, deps, c.req.param("name") as string);
  const hosted = hostedOf(target);
  if (action === "delete" && !hosted.allowDelete)
    throw new WharfError("UNSUPPORTED", `${hosted.name} does not allow deletes (hosted.allowDelete)`);
  await authorize(c, deps.authenticator, target, action);
  return { target, hosted };
}

/** `?from=` of a mount, as a repository of the same registry (a foreign one mounts nothing). */
function mountSource(c: Ctx, deps: RouteDeps, target: Target, from: string | undefined): string | undefined {
  if (!from) return undefined;
  try {
    const routed = deps.router.route({
      name: from,
      servername: c.get("state").servername,
      host: hostOf(c),
      ns: target.ns,
    });
    return routed.registry === target.registry.name ? routed.repository : undefined;
  } catch {
    return undefined;
  }
}

export function pushRoutes(app: Hono<Env>, deps: RouteDeps): void {
  async function startUpload(c: Ctx) {
    c.get("state").event.kind = "upload";
    const { target, hosted } = await pushTarget(c, deps, "push");
    const repo = target.repository;
    const mount = c.req.query("mount");
    if (mount !== undefined) {
      const d = parseDigest(mount);
      if (await hosted.mount(repo, d, mountSource(c, deps, target, c.req.query("from"))))
        return emptyReply(c, 201, blobCreatedHeaders(target, d.value), "hit");
      // not mountable: an ordinary upload session instead (spec, "Mounting a blob from another repository")
    }
    const digest = c.req.query("digest");
    const upload = await hosted.startUpload(repo);
    if (digest === undefined) return emptyReply(c, 202, uploadHeaders(target, upload), "stored");
    // monolithic upload in the POST itself (end-4b)
    const chunk = chunkInfo(undefined, c.req.header("content-length"));
    const done = await hosted.finishUpload(repo, upload.id, parseDigest(digest), c.env.incoming, chunk);
    c.get("state").event.bytes = done.size;
    return emptyReply(c, 201, blobCreatedHeaders(target, done.digest), "stored");
  }
  app.post("/v2/:name{.+}/blobs/uploads/", startUpload);

  app.patch("/v2/:name{.+}/blobs/uploads/:id", async function appendUpload(c) {
    c.get("state").event.kind = "upload";
    const { target, hosted } = await pushTarget(c, deps, "push");
    const chunk = chunkInfo(c.req.header("content-range"), c.req.header("content-length"));
    const before = chunk.start;
    const upload = await hosted.appendUpload(target.repository, c.req.param("id"), c.env.incoming, chunk);
    c.get("state").event.bytes = upload.offset - (before ?? 0);
    return emptyReply(c, 202, uploadHeaders(target, upload), "stored");
  });

  app.put("/v2/:name{.+}/blobs/uploads/:id", async function finishUpload(c) {
    c.get("state").event.kind = "upload";
    const { target, hosted } = await pushTarget(c, deps, "push");
    const digest = c.req.query("digest");
    if (digest === undefined)
      throw new WharfError("DIGEST_INVALID", "?digest= is required to finish an upload");
    const d = parseDigest(digest);
    const chunk = chunkInfo(c.req.header("content-range"), c.req.header("content-length"));
    // a body unless Content-Length says there is none (HTTP/2 has no Transfer-Encoding to look at)
    const hasBody = chunk.length !== 0;
    const done = await hosted.finishUpload(
      target.repository,
      c.req.param("id"),
      d,
      hasBody ? c.env.incoming : undefined,
      chunk,
    );
    return emptyReply(c, 201, blobCreatedHeaders(target, done.digest), "stored");
  });

  app.get("/v2/:name{.+}/blobs/uploads/:id", async function uploadStatus(c) {
    c.get("state").event.kind = "upload";
    const { target, hosted } = await pushTarget(c, deps, "push");
    const upload = await hosted.uploadStatus(target.repository, c.req.param("id"));
    return emptyReply(c, 204, uploadHeaders(target, upload), "hit");
  });

  app.delete("/v2/:name{.+}/blobs/uploads/:id", async function cancelUpload(c) {
    c.get("state").event.kind = "upload";
    const { target, hosted } = await pushTarget(c, deps, "push");
    await hosted.cancelUpload(target.repository, c.req.param("id"));
    return emptyReply(c, 204, {}, "stored");
  });

  app.put("/v2/:name{.+}/manifests/:reference", async function putManifest(c) {
    const ev = c.get("state").event;
    ev.kind = "manifest";
    ev.reference = c.req.param("reference");
    const { target, hosted } = await pushTarget(c, deps, "push");
    const ref = parseReference(c.req.param("reference"));
    const body = await readSmallBody(c.env.incoming, MAX_MANIFEST_BYTES, "the manifest");
    ev.bytes = body.length;
    const contentType = (c.req.header("content-type") ?? "").split(";")[0]?.trim() ?? "";
    const pushed = await hosted.putManifest(target.repository, ref, body, contentType);
    const headers: Record<string, string> = {
      location: clientUrl(target, `manifests/${pushed.digest}`),
      "docker-content-digest": pushed.digest,
    };
    if (pushed.subject) headers["oci-subject"] = pushed.subject;
    return emptyReply(c, 201, headers, "stored");
  });

  app.delete("/v2/:name{.+}/manifests/:reference", async function deleteManifest(c) {
    const ev = c.get("state").event;
    ev.kind = "manifest";
    ev.reference = c.req.param("reference");
    const { target, hosted } = await pushTarget(c, deps, "delete");
    await hosted.deleteManifest(target.repository, parseReference(c.req.param("reference")));
    return emptyReply(c, 202, {}, "stored");
  });

  app.delete("/v2/:name{.+}/blobs/:digest", async function deleteBlob(c) {
    const ev = c.get("state").event;
    ev.kind = "blob";
    ev.reference = c.req.param("digest");
    const { target, hosted } = await pushTarget(c, deps, "delete");
    await hosted.deleteBlob(target.repository, parseDigest(c.req.param("digest")));
    return emptyReply(c, 202, {}, "stored");
  });
}
