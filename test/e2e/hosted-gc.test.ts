// Issue 14, "Done when": `wharf gc` while wharf serves and a push is running deletes nothing the
// push needs (its blobs are uploaded, its manifest not yet put: the grace period protects them);
// unreferenced blobs past the grace period, and uploads abandoned past hosted.uploadTtl, are gone.
// The grace period is short here (`--grace`), so the test waits seconds, not the default hour.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CREDS, type HostedWharf, startHostedWharf } from "../support/hosted-wharf.ts";
import { makeTestImage, type OciPushClient, sha256 } from "../support/oci-push-client.ts";

const REPO = "team/gc";
const GRACE_S = 4;

let h: HostedWharf;
let c: OciPushClient;

beforeAll(async () => {
  h = await startHostedWharf({ hosted: { allowDelete: true, uploadTtl: `${GRACE_S}s` } });
  c = h.client(CREDS);
}, 60_000);

afterAll(async () => {
  await h?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("wharf gc on a hosted registry, while wharf serves", () => {
  it("removes unreferenced blobs and abandoned uploads past their time, and nothing a running push needs", async () => {
    // garbage: an image whose manifest is deleted, and an upload nobody finishes
    const old = makeTestImage();
    expect(await c.pushImage(REPO, old, "old")).toBe(old.digests.manifest);
    const del = await c.request("DELETE", `${REPO}/manifests/${old.digests.manifest}`);
    expect(del.status).toBe(202);
    expect((await c.request("GET", `${REPO}/manifests/old`)).status).toBe(404);
    const abandoned = await c.startUpload(REPO);
    expect((await c.patch(abandoned, Buffer.from("half a blob"), 0)).status).toBe(202);
    await sleep(GRACE_S * 1000 + 500);

    // a dry run reports and changes nothing
    const dry = await h.cli(["gc", "--dry-run", "--grace", `${GRACE_S}s`]);
    expect(dry.stdout).toMatch(/would remove/);
    for (const d of [old.digests.layer, old.digests.config]) expect(h.hasBlobFile(d), d).toBe(true);

    // a push in progress: its layer uploaded, its config half uploaded, no manifest yet
    const image = makeTestImage(512 * 1024);
    await c.pushBlob(REPO, image.layer);
    let config = await c.startUpload(REPO);
    const half = Math.floor(image.config.length / 2);
    const first = await c.patch(config, image.config.subarray(0, half), 0);
    expect(first.status).toBe(202);
    config = first.headers.get("location") ?? config;

    const gc = await h.cli(["gc", "--grace", `${GRACE_S}s`]);
    expect(gc.stdout).toMatch(/removed/);

    // the garbage is gone: no link, no file, no session
    for (const d of [old.digests.layer, old.digests.config]) {
      expect((await c.request("HEAD", `${REPO}/blobs/${d}`)).status, d).toBe(404);
      expect(h.hasBlobFile(d), d).toBe(false);
    }
    expect((await c.request("GET", abandoned)).status).toBe(404);

    // the push completes as if nothing happened, and the image pulls
    const rest = await c.patch(config, image.config.subarray(half), half);
    expect(rest.status).toBe(202);
    const done = await c.finish(rest.headers.get("location") ?? config, image.digests.config);
    expect(done.status).toBe(201);
    const put = await c.putManifest(REPO, "new", image.manifest);
    expect(put.status, put.body).toBe(201);
    expect(put.headers.get("docker-content-digest")).toBe(image.digests.manifest);
    const m = await c.request("GET", `${REPO}/manifests/new`, {
      headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
    });
    expect(m.status).toBe(200);
    expect(sha256(Buffer.from(m.body))).toBe(image.digests.manifest);
    for (const [d, bytes] of [
      [image.digests.layer, image.layer],
      [image.digests.config, image.config],
    ] as const) {
      const r = await fetch(c.url(`${REPO}/blobs/${d}`), { signal: AbortSignal.timeout(10_000) });
      expect(r.status, d).toBe(200);
      expect(Buffer.from(await r.arrayBuffer()).equals(bytes), d).toBe(true);
    }

    // a later gc (default grace) keeps everything a manifest references
    await h.cli(["gc"]);
    for (const d of [image.digests.layer, image.digests.config, image.digests.manifest])
      expect(h.hasBlobFile(d), d).toBe(true);
    expect(await c.tags(REPO)).toEqual(["new"]);
  }, 90_000);
});
