// HostedRegistry against a real file system and SQLite: uploads (monolithic, chunked, out of
// order, digest mismatch), mount, manifest validation, reads, referrers, pagination, deletes.
import { randomBytes } from "node:crypto";
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { makeTempDir, type TempDir } from "../../../test/support/temp-dir.ts";
import { Evictor } from "../../cache/evictor.ts";
import { silentLogger } from "../../log.ts";
import { parseDigest } from "../../oci/digest.ts";
import { DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST } from "../../oci/media-types.ts";
import { parseReference } from "../../oci/reference.ts";
import {
  digestOfBytes,
  imageManifest,
  indexManifest,
  openHosted,
  pushBlob,
  pushChunked,
  REGISTRY,
  readBody,
} from "./hosted.test-support.ts";

const dirs: TempDir[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await d.remove();
});

async function setup(config: { allowDelete?: boolean } = {}) {
  const dir = await makeTempDir("wharf-hosted-");
  dirs.push(dir);
  return { dir: dir.path, ...(await openHosted(dir.path, { config })) };
}

const tag = (t: string) => parseReference(t);
const byDigest = (d: string) => parseReference(d);

describe("uploads", () => {
  it("monolithic push: verified, committed under its digest, linked to the repository only", async () => {
    const { reg, cache, dir } = await setup();
    const data = randomBytes(300_000);
    const d = await pushBlob(reg, "team/app", data);
    expect(await readBody((await reg.blob("team/app", d, { head: false })).body)).toEqual(data);
    const head = await reg.blob("team/app", d, { head: true });
    expect(head).toMatchObject({ size: data.length, digest: d.value });
    expect(head.body).toBeUndefined();
    await expect(reg.blob("team/other", d, { head: true })).rejects.toMatchObject({ code: "BLOB_UNKNOWN" });
    expect(await cache.store.size(d)).toBe(data.length);
    expect(await readdir(join(dir, "uploads"))).toEqual([]);
  });

  it("blob ranges resolve against the size; an unsatisfiable one is RANGE_INVALID with the size", async () => {
    const { reg } = await setup();
    const data = randomBytes(1000);
    const d = await pushChunked(reg, "app", data, 300);
    const mid = await reg.blob("app", d, { head: false, range: { kind: "from", start: 100, end: 199 } });
    expect(mid.range).toEqual({ start: 100, end: 199 });
    expect(await readBody(mid.body)).toEqual(data.subarray(100, 200));
    const tail = await reg.blob("app", d, { head: false, range: { kind: "suffix", length: 10 } });
    expect(await readBody(tail.body)).toEqual(data.subarray(990));
    const open = await reg.blob("app", d, { head: false, range: { kind: "from", start: 900, end: 5000 } });
    expect(open.range).toEqual({ start: 900, end: 999 });
    await readBody(open.body);
    const err = await reg
      .blob("app", d, { head: false, range: { kind: "from", start: 1000 } })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: "RANGE_INVALID",
      status: 416,
      headers: { "content-range": "bytes */1000" },
    });
  });

  it("chunked push; an out-of-order chunk gets RANGE_INVALID (416) and appends nothing", async () => {
    const { reg, dir } = await setup();
    const data = randomBytes(100_000);
    const u = await reg.startUpload("app");
    await reg.appendUpload("app", u.id, Readable.from([data.subarray(0, 40_000)]), { start: 0, end: 39_999 });
    const err = await reg
      .appendUpload("app", u.id, Readable.from([data.subarray(50_000, 60_000)]), {
        start: 50_000,
        end: 59_999,
      })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "RANGE_INVALID", status: 416, detail: { offset: 40_000 } });
    expect((await stat(join(dir, "uploads", u.id, "data"))).size).toBe(40_000);
    expect((await reg.uploadStatus("app", u.id)).offset).toBe(40_000);
    // A chunk without Content-Range (streamed) goes at the offset; the last one comes with the PUT.
    await reg.appendUpload("app", u.id, Readable.from([data.subarray(40_000, 70_000)]), {});
    const d = digestOfBytes(data);
    const done = await reg.finishUpload("app", u.id, d, Readable.from([data.subarray(70_000)]), {
      start: 70_000,
      end: 99_999,
    });
    expect(done).toEqual({ digest: d.value, size: data.length });
    expect(await readBody((await reg.blob("app", d, { head: false })).body)).toEqual(data);
  });

  it("a chunk shorter than its Content-Range is SIZE_INVALID and leaves the offset alone", async () => {
    const { reg, dir } = await setup();
    const u = await reg.startUpload("app");
    const err = await reg
      .appendUpload("app", u.id, Readable.from([randomBytes(500)]), { start: 0, end: 999, length: 1000 })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "SIZE_INVALID" });
    expect((await stat(join(dir, "uploads", u.id, "data"))).size).toBe(0);
    expect((await reg.uploadStatus("app", u.id)).offset).toBe(0);
  });

  it("digest mismatch: DIGEST_INVALID, the session is discarded, nothing is stored", async () => {
    const { reg, cache } = await setup();
    const data = randomBytes(1000);
    const wrong = digestOfBytes(Buffer.from("something else"));
    const u = await reg.startUpload("app");
    await expect(reg.finishUpload("app", u.id, wrong, Readable.from([data]), {})).rejects.toMatchObject({
      code: "DIGEST_INVALID",
    });
    await expect(reg.uploadStatus("app", u.id)).rejects.toMatchObject({ code: "BLOB_UPLOAD_UNKNOWN" });
    expect(await cache.store.size(wrong)).toBeUndefined();
    expect(await cache.store.size(digestOfBytes(data))).toBeUndefined();
  });

  it("an upload survives a restart: a new instance resumes at the offset and hashes at finish", async () => {
    const { reg, cache, dir } = await setup();
    const data = randomBytes(50_000);
    const u = await reg.startUpload("app");
    await reg.appendUpload("app", u.id, Readable.from([data.subarray(0, 20_000)]), { start: 0, end: 19_999 });
    const { HostedRegistry } = await import("./hosted-registry.ts");
    const again = new HostedRegistry({
      name: reg.name,
      config: { allowDelete: false, anonymousPull: true, uploadTtl: 60_000 },
      cache,
      log: silentLogger,
    });
    expect((await again.uploadStatus("app", u.id)).offset).toBe(20_000);
    const d = digestOfBytes(data);
    await again.finishUpload("app", u.id, d, Readable.from([data.subarray(20_000)]), {
      start: 20_000,
      end: 49_999,
    });
    expect(await readBody((await again.blob("app", d, { head: false })).body)).toEqual(data);
    expect(await readdir(join(dir, "uploads"))).toEqual([]);
  });

  it("sha512 digests are verified by hashing at finish", async () => {
    const { reg } = await setup();
    const data = randomBytes(5000);
    const { createHash } = await import("node:crypto");
    const d = parseDigest(`sha512:${createHash("sha512").update(data).digest("hex")}`);
    const u = await reg.startUpload("app");
    await reg.appendUpload("app", u.id, Readable.from([data]), {});
    await reg.finishUpload("app", u.id, d, undefined, {});
    expect((await reg.blob("app", d, { head: true })).size).toBe(5000);
  });

  it("session ids: unknown, malformed, path-like or of another repository → BLOB_UPLOAD_UNKNOWN", async () => {
    const { reg } = await setup();
    const u = await reg.startUpload("app");
    expect(u.id).toMatch(/^[a-f0-9]{32}$/);
    for (const [repo, id] of [
      ["app", "0".repeat(32)],
      ["app", "../../metadata.sqlite"],
      ["app", u.id.toUpperCase()],
      ["other", u.id],
    ] as const)
      await expect(reg.uploadStatus(repo, id)).rejects.toMatchObject({
        code: "BLOB_UPLOAD_UNKNOWN",
        status: 404,
      });
  });

  it("cancel drops the session; pushing a blob already stored just drops the upload", async () => {
    const { reg, dir } = await setup();
    const u = await reg.startUpload("app");
    await reg.cancelUpload("app", u.id);
    await expect(reg.uploadStatus("app", u.id)).rejects.toMatchObject({ code: "BLOB_UPLOAD_UNKNOWN" });
    const data = randomBytes(2000);
    await pushBlob(reg, "app", data);
    const d = await pushBlob(reg, "other", data);
    expect((await reg.blob("other", d, { head: true })).size).toBe(2000);
    expect(await readdir(join(dir, "uploads"))).toEqual([]);
  });
});

describe("mount", () => {
  it("links a blob pulled through a proxied registry (one copy, no bytes) and says false when absent", async () => {
    const { reg, cache, dir } = await setup();
    const layer = randomBytes(10_000);
    const d = digestOfBytes(layer);
    await cache.store.writeVerified(d, layer);
    cache.db.putBlob(d.value, layer.length, null, Date.now());
    cache.noteRepoBlob("docker.io", "library/alpine", d.value);
    expect(await reg.mount("team/app", d, "library/alpine")).toBe(true);
    expect(await readBody((await reg.blob("team/app", d, { head: false })).body)).toEqual(layer);
    expect(await readdir(join(dir, "uploads")).catch(() => [])).toEqual([]);
    expect(await reg.mount("team/app", digestOfBytes(Buffer.from("nope")), "x")).toBe(false);
  });
});

describe("manifests", () => {
  async function image(reg: Awaited<ReturnType<typeof setup>>["reg"], repo: string) {
    const config = await pushBlob(reg, repo, Buffer.from('{"architecture":"amd64"}'));
    const layer = await pushBlob(reg, repo, randomBytes(4000));
    return { config, layer, body: imageManifest(config, [layer]) };
  }

  it("put by tag, read by tag and digest; HEAD has no body; Accept is honoured", async () => {
    const { reg } = await setup();
    const { body } = await image(reg, "app");
    const pushed = await reg.putManifest("app", tag("v1"), body, OCI_MANIFEST);
    expect(pushed.digest).toBe(digestOfBytes(body).value);
    const got = await reg.manifest("app", tag("v1"), { head: false, accept: [] });
    expect(got).toMatchObject({ digest: pushed.digest, mediaType: OCI_MANIFEST, size: body.length });
    expect(got.body).toEqual(body);
    const head = await reg.manifest("app", byDigest(pushed.digest), { head: true, accept: [OCI_MANIFEST] });
    expect(head.body).toBeUndefined();
    await expect(
      reg.manifest("app", tag("v1"), { head: true, accept: [DOCKER_MANIFEST] }),
    ).rejects.toMatchObject({
      code: "MANIFEST_UNKNOWN",
    });
    await expect(reg.manifest("app", tag("v2"), { head: true, accept: [] })).rejects.toMatchObject({
      code: "MANIFEST_UNKNOWN",
    });
    await expect(
      reg.manifest("other", byDigest(pushed.digest), { head: true, accept: [] }),
    ).rejects.toMatchObject({
      code: "MANIFEST_UNKNOWN",
    });
  });

  it("a missing blob is MANIFEST_BLOB_UNKNOWN naming the digest, and nothing is recorded", async () => {
    const { reg, cache } = await setup();
    const config = await pushBlob(reg, "app", Buffer.from("{}"));
    const missing = digestOfBytes(Buffer.from("never pushed"));
    const body = imageManifest(config, [missing]);
    const err = await reg.putManifest("app", tag("v1"), body, OCI_MANIFEST).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: "MANIFEST_BLOB_UNKNOWN",
      status: 400,
      detail: { digest: missing.value },
    });
    await expect(reg.manifest("app", tag("v1"), { head: true, accept: [] })).rejects.toMatchObject({
      code: "MANIFEST_UNKNOWN",
    });
    expect(await cache.store.size(digestOfBytes(body))).toBeUndefined();
  });

  it("rejects oversized (413), non-JSON, mismatched media types and a wrong digest reference", async () => {
    const { reg } = await setup();
    const { body } = await image(reg, "app");
    const huge = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20);
    await expect(reg.putManifest("app", tag("big"), huge, OCI_MANIFEST)).rejects.toMatchObject({
      code: "MANIFEST_TOO_LARGE",
      status: 413,
    });
    await expect(
      reg.putManifest("app", tag("x"), Buffer.from("{not json"), OCI_MANIFEST),
    ).rejects.toMatchObject({
      code: "MANIFEST_INVALID",
    });
    await expect(reg.putManifest("app", tag("x"), body, DOCKER_MANIFEST)).rejects.toMatchObject({
      code: "MANIFEST_INVALID",
    });
    await expect(reg.putManifest("app", tag("x"), body, "text/plain")).rejects.toMatchObject({
      code: "MANIFEST_INVALID",
    });
    const other = digestOfBytes(Buffer.from("x")).value;
    await expect(reg.putManifest("app", byDigest(other), body, OCI_MANIFEST)).rejects.toMatchObject({
      code: "DIGEST_INVALID",
    });
    const ok = await reg.putManifest(
      "app",
      byDigest(digestOfBytes(body).value),
      body,
      `${OCI_MANIFEST}; charset=utf-8`,
    );
    expect(ok.digest).toBe(digestOfBytes(body).value);
  });

  it("an index needs every child manifest: MANIFEST_BLOB_UNKNOWN otherwise", async () => {
    const { reg } = await setup();
    const { body } = await image(reg, "app");
    const child = await reg.putManifest("app", byDigest(digestOfBytes(body).value), body, OCI_MANIFEST);
    const absent = digestOfBytes(Buffer.from("absent manifest")).value;
    const bad = indexManifest([
      { digest: child.digest, size: body.length },
      { digest: absent, size: 10 },
    ]);
    await expect(reg.putManifest("app", tag("multi"), bad, OCI_INDEX)).rejects.toMatchObject({
      code: "MANIFEST_BLOB_UNKNOWN",
      detail: { digest: absent },
    });
    const good = indexManifest([{ digest: child.digest, size: body.length }]);
    await reg.putManifest("app", tag("multi"), good, OCI_INDEX);
    expect((await reg.manifest("app", tag("multi"), { head: true, accept: [OCI_INDEX] })).mediaType).toBe(
      OCI_INDEX,
    );
  });

  it("subject: OCI-Subject returned, referrers listed with artifactType (or config type), filterable", async () => {
    const { reg } = await setup();
    const { body } = await image(reg, "app");
    const subject = await reg.putManifest("app", tag("v1"), body, OCI_MANIFEST);
    const empty = await pushBlob(reg, "app", Buffer.from("{}"));
    const sig = imageManifest(empty, [], {
      subject: { digest: subject.digest, size: body.length },
      artifactType: "application/vnd.example.sig",
    });
    const sbom = imageManifest(empty, [], {
      subject: { digest: subject.digest, size: body.length },
      configType: "application/vnd.example.sbom",
    });
    const s1 = await reg.putManifest("app", byDigest(digestOfBytes(sig).value), sig, OCI_MANIFEST);
    expect(s1.subject).toBe(subject.digest);
    await reg.putManifest("app", byDigest(digestOfBytes(sbom).value), sbom, OCI_MANIFEST);
    const all = JSON.parse((await reg.referrers("app", parseDigest(subject.digest), undefined)).toString());
    expect(all.mediaType).toBe(OCI_INDEX);
    expect(all.manifests).toHaveLength(2);
    const types = all.manifests.map((m: { artifactType: string }) => m.artifactType).sort();
    expect(types).toEqual(["application/vnd.example.sbom", "application/vnd.example.sig"]);
    expect(all.manifests[0]).toMatchObject({
      mediaType: OCI_MANIFEST,
      annotations: { "org.example.note": "test" },
    });
    const only = JSON.parse(
      (await reg.referrers("app", parseDigest(subject.digest), "application/vnd.example.sig")).toString(),
    );
    expect(only.manifests).toEqual([
      expect.objectContaining({
        digest: s1.digest,
        size: sig.length,
        artifactType: "application/vnd.example.sig",
      }),
    ]);
    const none = JSON.parse((await reg.referrers("app", parseDigest(s1.digest), undefined)).toString());
    expect(none.manifests).toEqual([]);
  });

  it("tags sorted with n/last pagination and a next link; catalog likewise; unknown repo NAME_UNKNOWN", async () => {
    const { reg } = await setup();
    for (const repo of ["b/app", "a/app", "c"]) {
      const { body } = await image(reg, repo);
      for (const t of ["v2", "latest", "v10", "V1"]) await reg.putManifest(repo, tag(t), body, OCI_MANIFEST);
    }
    expect((await reg.tags("a/app", {})).tags).toEqual(["V1", "latest", "v10", "v2"]);
    const p1 = await reg.tags("a/app", { n: 2 });
    expect(p1.tags).toEqual(["V1", "latest"]);
    expect(p1.link).toBe('</v2/a/app/tags/list?n=2&last=latest>; rel="next"');
    const p2 = await reg.tags("a/app", { n: 2, last: "latest" });
    expect(p2.tags).toEqual(["v10", "v2"]);
    expect(p2.link).toBeUndefined();
    expect((await reg.tags("a/app", { n: 0 })).tags).toEqual([]);
    await expect(reg.tags("nothing/here", {})).rejects.toMatchObject({ code: "NAME_UNKNOWN" });
    expect(await reg.catalog({})).toEqual({ repositories: ["a/app", "b/app", "c"], more: false });
    expect(await reg.catalog({ n: 1, last: "a/app" })).toEqual({ repositories: ["b/app"], more: true });
    expect(await reg.usage()).toMatchObject({ repositories: 3, tags: 12 });
  });
});

describe("deletes", () => {
  it("are refused with UNSUPPORTED (405) unless allowDelete", async () => {
    const { reg } = await setup();
    const d = await pushBlob(reg, "app", randomBytes(10));
    await expect(reg.deleteBlob("app", d)).rejects.toMatchObject({ code: "UNSUPPORTED", status: 405 });
    await expect(reg.deleteManifest("app", tag("v1"))).rejects.toMatchObject({ code: "UNSUPPORTED" });
  });

  it("by tag removes the tag; by digest the manifest and its tags; blob removes the link", async () => {
    const { reg, cache } = await setup({ allowDelete: true });
    const config = await pushBlob(reg, "app", Buffer.from("{}"));
    const layer = await pushBlob(reg, "app", randomBytes(100));
    const body = imageManifest(config, [layer]);
    const m = await reg.putManifest("app", tag("v1"), body, OCI_MANIFEST);
    await reg.putManifest("app", tag("v2"), body, OCI_MANIFEST);
    await reg.deleteManifest("app", tag("v1"));
    await expect(reg.manifest("app", tag("v1"), { head: true, accept: [] })).rejects.toMatchObject({
      code: "MANIFEST_UNKNOWN",
    });
    expect((await reg.manifest("app", tag("v2"), { head: true, accept: [] })).digest).toBe(m.digest);
    await expect(reg.deleteManifest("app", tag("v1"))).rejects.toMatchObject({ code: "MANIFEST_UNKNOWN" });
    await reg.deleteManifest("app", byDigest(m.digest));
    await expect(reg.manifest("app", tag("v2"), { head: true, accept: [] })).rejects.toMatchObject({
      code: "MANIFEST_UNKNOWN",
    });
    await expect(reg.manifest("app", byDigest(m.digest), { head: true, accept: [] })).rejects.toMatchObject({
      code: "MANIFEST_UNKNOWN",
    });
    await reg.deleteBlob("app", layer);
    await expect(reg.blob("app", layer, { head: true })).rejects.toMatchObject({ code: "BLOB_UNKNOWN" });
    await expect(reg.deleteBlob("app", layer)).rejects.toMatchObject({ code: "BLOB_UNKNOWN" });
    // The bytes stay until gc.
    expect(await cache.store.size(layer)).toBe(100);
  });
});

describe("eviction", () => {
  it("the evictor never chooses hosted blobs, even when they are the least recently used", async () => {
    const { reg, cache, dir } = await setup();
    const hosted = await pushBlob(reg, "app", randomBytes(50_000));
    cache.db.touchBlob(hosted.value, 1);
    const cached = randomBytes(50_000);
    const cd = digestOfBytes(cached);
    await cache.store.writeVerified(cd, cached);
    cache.db.putBlob(cd.value, cached.length, null, 2);
    const ev = new Evictor({
      cache,
      maxSize: 1000,
      minFree: 0,
      dataDir: dir,
      log: silentLogger,
      intervalMs: 60_000,
    });
    const r = await ev.run();
    expect(r.evicted).toBe(1);
    expect(await cache.store.size(cd)).toBeUndefined();
    expect(await cache.store.size(hosted)).toBe(50_000);
    expect(REGISTRY).toBe(reg.name);
  });

  it("hosted bytes do not count against cache.maxSize: cached blobs under the budget stay", async () => {
    const { reg, cache, dir } = await setup();
    await pushBlob(reg, "app", randomBytes(50_000));
    const cached = randomBytes(500);
    const cd = digestOfBytes(cached);
    await cache.store.writeVerified(cd, cached);
    cache.db.putBlob(cd.value, cached.length, null, 2);
    const ev = new Evictor({
      cache,
      maxSize: 1000,
      minFree: 0,
      dataDir: dir,
      log: silentLogger,
      intervalMs: 60_000,
    });
    expect((await ev.run()).evicted).toBe(0);
    expect(await cache.store.size(cd)).toBe(500);
  });
});
