// Issue 14, "Done when": wrong password, no password, a push to a proxied registry, a manifest
// naming a missing blob, an oversized manifest, a chunk out of order: each gets the right OCI error
// (distribution spec, "Error Codes") and leaves nothing behind: no tag, tags/list unchanged, no
// file in the blob store for the refused content. Against wharf's plain-HTTP listener, where a
// hosted registry is reached by path prefix (/v2/registry.internal/<repository>/…).
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CREDS, HOSTED, type HostedWharf, startHostedWharf, USER } from "../support/hosted-wharf.ts";
import { makeTestImage, OCI_MANIFEST, OciPushClient, sha256 } from "../support/oci-push-client.ts";

let h: HostedWharf;
let alice: OciPushClient;
const REPO = "team/errors";
let tagsBefore: string[];
let filesBefore: string[];

beforeAll(async () => {
  h = await startHostedWharf();
  alice = h.client(CREDS);
  // one good image, so "unchanged" is checked against something
  await alice.pushImage(REPO, makeTestImage(), "good");
  tagsBefore = await alice.tags(REPO);
  filesBefore = await h.blobFiles();
}, 60_000);

afterAll(async () => {
  await h?.stop();
});

/** Nothing of a refused request is left: same tags, same blob files, none for `digests`. */
async function nothingLeftBehind(digests: string[]): Promise<void> {
  expect(await alice.tags(REPO)).toEqual(tagsBefore);
  for (const d of digests) {
    expect(h.hasBlobFile(d), d).toBe(false);
    expect((await alice.request("HEAD", `${REPO}/blobs/${d}`)).status, d).toBe(404);
  }
  expect(await h.blobFiles()).toEqual(filesBefore);
}

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
}

/** `Bearer realm="…",service="…",scope="…"` as a map. */
function challengeParams(header: string): Record<string, string> {
  expect(header).toMatch(/^Bearer /i);
  return Object.fromEntries([...header.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
}

describe("hosted registry: refused requests", () => {
  it("a wrong password gets 401 UNAUTHORIZED with a challenge, at /v2/ and on a push", async () => {
    const wrong = basic(USER.name, "not-the-password");
    const base = await alice.request("GET", `${h.httpUrl}/v2/`, { auth: wrong });
    expect(base.status).toBe(401);
    expect(base.code).toBe("UNAUTHORIZED");
    expect(base.headers.get("www-authenticate")).toBeTruthy();
    const push = await alice.request("POST", `${REPO}/blobs/uploads/`, { auth: wrong });
    expect(push.status).toBe(401);
    expect(push.code).toBe("UNAUTHORIZED");
    expect(push.headers.get("www-authenticate")).toMatch(/^Bearer /i);
    expect(`${base.body}${push.body}`).not.toContain("not-the-password");
    const stranger = await alice.request("POST", `${REPO}/blobs/uploads/`, { auth: basic("mallory", "x") });
    expect(stranger.status).toBe(401);
    await nothingLeftBehind([]);
  });

  it("a push without credentials gets a Bearer challenge whose token flow works with the right password", async () => {
    const anon = h.client(null);
    const refused = await anon.request("POST", `${REPO}/blobs/uploads/`);
    expect(refused.status).toBe(401);
    expect(refused.code).toBe("UNAUTHORIZED");
    const params = challengeParams(refused.headers.get("www-authenticate") ?? "");
    expect(params.realm).toMatch(/\/auth\/token$/);
    expect(params.scope).toBe(`repository:${HOSTED}/${REPO}:pull,push`);
    // The realm as the client got it (distribution, "Token Authentication Specification")
    const url = new URL(params.realm as string);
    url.searchParams.set("service", params.service ?? "");
    url.searchParams.set("scope", params.scope ?? "");
    const badToken = await fetch(url, {
      headers: { authorization: basic(USER.name, "nope") },
      signal: AbortSignal.timeout(10_000),
    });
    expect(badToken.status).toBe(401);
    const tokenReply = await fetch(url, {
      headers: { authorization: basic(USER.name, USER.password) },
      signal: AbortSignal.timeout(10_000),
    });
    expect(tokenReply.status).toBe(200);
    const { token } = (await tokenReply.json()) as { token: string };
    expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    const bearer = `Bearer ${token}`;
    const started = await anon.request("POST", `${REPO}/blobs/uploads/`, { auth: bearer });
    expect(started.status).toBe(202);
    const location = started.headers.get("location") ?? "";
    expect(new URL(anon.url(location)).pathname).toMatch(new RegExp(`^/v2/${HOSTED}/${REPO}/blobs/uploads/`));
    const cancelled = await anon.request("DELETE", location, { auth: bearer });
    expect(cancelled.status).toBe(204);
    // the token is for this repository only
    const other = await anon.request("POST", "team/other/blobs/uploads/", { auth: bearer });
    expect(other.status).toBe(401);
    await nothingLeftBehind([]);
  });

  it("a push to a proxied registry gets 405 UNSUPPORTED, with or without credentials", async () => {
    const mirror = new OciPushClient({ base: `${h.httpUrl}/v2`, creds: CREDS });
    const blob = randomBytes(1024);
    for (const path of ["library/busybox/blobs/uploads/", "library/busybox/blobs/uploads/?ns=docker.io"]) {
      const r = await mirror.request("POST", path);
      expect(r.status, path).toBe(405);
      expect(r.code, path).toBe("UNSUPPORTED");
    }
    const put = await mirror.putManifest("library/busybox", "evil", makeTestImage().manifest);
    expect(put.status).toBe(405);
    expect(put.code).toBe("UNSUPPORTED");
    const mono = await mirror.request("POST", `library/busybox/blobs/uploads/?digest=${sha256(blob)}`, {
      body: blob,
      headers: { "content-type": "application/octet-stream" },
    });
    expect(mono.status).toBe(405);
    expect(h.hasBlobFile(sha256(blob))).toBe(false);
    await nothingLeftBehind([sha256(blob)]);
  });

  it("a manifest naming a missing blob gets 400 MANIFEST_BLOB_UNKNOWN; no tag, no manifest", async () => {
    const image = makeTestImage();
    await alice.pushBlob(REPO, image.config); // the layer is never pushed
    filesBefore = await h.blobFiles();
    expect(filesBefore).toContain(image.digests.config);
    const r = await alice.putManifest(REPO, "missing-layer", image.manifest);
    expect(r.status).toBe(400);
    expect(r.code).toBe("MANIFEST_BLOB_UNKNOWN");
    expect((await alice.request("GET", `${REPO}/manifests/missing-layer`)).status).toBe(404);
    expect((await alice.request("GET", `${REPO}/manifests/${image.digests.manifest}`)).status).toBe(404);
    const byDigest = await alice.putManifest(REPO, image.digests.manifest, image.manifest);
    expect(byDigest.code).toBe("MANIFEST_BLOB_UNKNOWN");
    await nothingLeftBehind([image.digests.manifest, image.digests.layer]);
  });

  it("a manifest over 4 MiB is refused (413 SIZE_INVALID) and not stored", async () => {
    const image = makeTestImage();
    await alice.pushBlob(REPO, image.layer);
    await alice.pushBlob(REPO, image.config);
    filesBefore = await h.blobFiles();
    const m = JSON.parse(image.manifest.toString()) as Record<string, unknown>;
    m.annotations = { padding: "x".repeat(4 * 1024 * 1024 + 1) };
    const big = Buffer.from(JSON.stringify(m));
    const r = await alice.putManifest(REPO, "too-big", big, OCI_MANIFEST);
    expect(r.status).toBe(413);
    expect(r.code).toBe("SIZE_INVALID");
    expect((await alice.request("GET", `${REPO}/manifests/too-big`)).status).toBe(404);
    await nothingLeftBehind([sha256(big)]);
    // the same image without the padding is fine: the refusal was about the size
    const ok = await alice.putManifest(REPO, image.digests.manifest, image.manifest);
    expect(ok.status).toBe(201);
    filesBefore = await h.blobFiles();
  });

  it("a chunk out of order gets 416 and the upload keeps its offset; cancelled, nothing stays", async () => {
    const data = randomBytes(3 * 1024);
    const location = await alice.startUpload(REPO);
    const first = await alice.patch(location, data.subarray(0, 1024), 0);
    expect(first.status).toBe(202);
    expect(first.headers.get("range")).toBe("0-1023");
    const next = first.headers.get("location") ?? location;
    const gap = await alice.patch(next, data.subarray(2048), 2048);
    expect(gap.status).toBe(416);
    const overlap = await alice.patch(next, data.subarray(512, 1536), 512);
    expect(overlap.status).toBe(416);
    const status = await alice.request("GET", next);
    expect(status.status).toBe(204);
    expect(status.headers.get("range")).toBe("0-1023");
    // finishing with the wrong bytes so far is refused too, and commits nothing
    const early = await alice.finish(next, sha256(data));
    expect(early.status).toBe(400);
    expect(early.code).toBe("DIGEST_INVALID");
    const cancel = await alice.request("DELETE", next);
    expect([204, 404]).toContain(cancel.status);
    expect((await alice.request("GET", next)).status).toBe(404);
    await nothingLeftBehind([sha256(data), sha256(data.subarray(0, 1024))]);
  });
});
