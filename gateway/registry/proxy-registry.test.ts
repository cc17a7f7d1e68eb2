// The proxy's decisions (hit / revalidate / fill / stale) with a real cache in a temporary
// directory, an upstream implemented in memory behind the RemoteRegistry interface, and a clock
// the test moves. What reaches the wire is covered by test/e2e (pull-through, cache-policy,
// ranged-fill, revalidation-storm); here each decision is counted against the remote.
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { Agent } from "undici";
import { afterEach, describe, expect, it } from "vitest";
import { WharfError } from "../../common/errors.ts";
import { ContentCache } from "../cache/content-cache.ts";
import { isFileBody } from "../cache/file-body.ts";
import { MetadataDb } from "../cache/metadata-db.ts";
import { RateLimits } from "../cache/rate-limits.ts";
import type { RegistryConfig } from "../config/schema.ts";
import { silentLogger } from "../log.ts";
import { type Digest, parseDigest } from "../oci/digest.ts";
import { parseReference } from "../oci/reference.ts";
import type {
  RemoteBlob,
  RemoteManifest,
  RemoteRegistry,
  RemoteTagPage,
} from "../upstream/remote-registry.ts";
import { UpstreamClient } from "../upstream/upstream-client.ts";
import { ProxyRegistry } from "./proxy-registry.ts";
import type { Body } from "./registry.ts";

const MEDIA = "application/vnd.oci.image.manifest.v1+json";
const TTL = 60_000;

function digestOf(b: Uint8Array): Digest {
  return parseDigest(`sha256:${createHash("sha256").update(b).digest("hex")}`);
}

function manifestBody(n: number): Buffer {
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA, annotations: { n: String(n) } }));
}

/** An upstream in memory: tags, manifests and blobs it holds, and every call it received. */
class MemoryRemote implements RemoteRegistry {
  account: string | undefined = undefined;
  readonly calls: string[] = [];
  readonly tagMap = new Map<string, string>();
  readonly manifests = new Map<string, Buffer>();
  readonly blobs = new Map<string, Buffer>();
  /** When set, every call fails with it (an outage, or a verdict such as MANIFEST_UNKNOWN). */
  failure: WharfError | undefined;
  /** When set, blob bodies are these streams (the test writes them), one per GET. */
  blobStreams: PassThrough[] | undefined;

  setTag(repo: string, tag: string, body: Buffer): string {
    const d = digestOf(body).value;
    this.manifests.set(d, body);
    this.tagMap.set(`${repo}:${tag}`, d);
    return d;
  }

  #call(what: string): void {
    this.calls.push(what);
    if (this.failure) throw this.failure;
  }

  async headManifest(repo: string, tag: string): Promise<string | undefined> {
    this.#call(`HEAD manifest ${repo}:${tag}`);
    const d = this.tagMap.get(`${repo}:${tag}`);
    if (!d) throw new WharfError("MANIFEST_UNKNOWN", "unknown");
    return d;
  }

  async getManifest(repo: string, ref: string, expected?: Digest): Promise<RemoteManifest> {
    this.#call(`GET manifest ${repo}:${ref}`);
    await new Promise((r) => setTimeout(r, 5)); // long enough for concurrent callers to join
    const d = expected?.value ?? this.tagMap.get(`${repo}:${ref}`) ?? ref;
    const body = this.manifests.get(d);
    if (!body) throw new WharfError("MANIFEST_UNKNOWN", "unknown");
    return { digest: d, mediaType: MEDIA, body };
  }

  async getBlob(repo: string, d: Digest): Promise<RemoteBlob> {
    this.#call(`GET blob ${repo}@${d.value}`);
    const data = this.blobs.get(d.value);
    if (!data) throw new WharfError("BLOB_UNKNOWN", "unknown");
    const stream = this.blobStreams?.shift();
    return { body: stream ?? Readable.from([data]), size: data.length };
  }

  async headBlob(repo: string, d: Digest): Promise<{ size: number | undefined }> {
    this.#call(`HEAD blob ${repo}@${d.value}`);
    const data = this.blobs.get(d.value);
    if (!data) throw new WharfError("BLOB_UNKNOWN", "unknown");
    return { size: data.length };
  }

  async tags(repo: string): Promise<RemoteTagPage> {
    this.#call(`GET tags ${repo}`);
    return { name: repo, tags: ["b", "a"], link: '</v2/x/tags/list?n=2&last=b>; rel="next"' };
  }
}

const dirs: string[] = [];
afterEach(async () => {
  // fills commit and manifests are stored after the client got its bytes: let them finish
  for (const d of dirs.splice(0))
    await rm(d, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
});

async function setup(opts: { offline?: boolean; tagTtl?: number } = {}) {
  const dir = await mkdtemp(join(tmpdir(), "wharf-proxy-"));
  dirs.push(dir);
  const clock = { now: 1_000_000 };
  const now = () => clock.now;
  const cache = new ContentCache({
    dataDir: dir,
    db: new MetadataDb(join(dir, "m.sqlite")),
    log: silentLogger,
    fillTimeoutMs: 10_000,
    now,
  });
  await cache.store.init();
  const remote = new MemoryRemote();
  const rateLimits = new RateLimits(now);
  const config = {
    tagTtl: opts.tagTtl ?? TTL,
    repositories: [],
    offline: false,
  } as unknown as RegistryConfig;
  const make = (offline: boolean) =>
    new ProxyRegistry({
      name: "docker.io",
      config,
      globalOffline: offline,
      rateLimitReserve: 10,
      cache,
      // never asked anything: the remote answers (its breaker is what the status page reads)
      upstream: new UpstreamClient({
        registry: "docker.io",
        upstream: "https://upstream.invalid",
        dispatcher: new Agent(),
        log: silentLogger,
        userAgent: "test",
      }),
      remote,
      rateLimits,
      log: silentLogger,
      now,
    });
  return { proxy: make(opts.offline ?? false), offlineProxy: make(true), remote, cache, clock, rateLimits };
}

const tagRef = (t: string) => parseReference(t);
const GET = { head: false, accept: [] };

async function bytesOf(body: Body | undefined): Promise<Buffer> {
  if (body === undefined) return Buffer.alloc(0);
  if (Buffer.isBuffer(body)) return body;
  if (isFileBody(body)) {
    const fh = await body.open();
    try {
      const buf = Buffer.alloc(body.end - body.start + 1);
      let pos = body.start;
      while (pos <= body.end) {
        const limit = await body.readable(pos);
        const { bytesRead } = await fh.read(buf, pos - body.start, Math.min(limit, body.end + 1) - pos, pos);
        pos += bytesRead;
      }
      return buf;
    } finally {
      await fh.close();
      body.release();
    }
  }
  const parts: Buffer[] = [];
  for await (const c of body) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

describe("ProxyRegistry manifests by tag", () => {
  it("a miss fetches once and records the tag; within the TTL the tag is a hit with no upstream call", async () => {
    const { proxy, remote, clock } = await setup();
    const d = remote.setTag("library/a", "1", manifestBody(1));
    const first = await proxy.manifest("library/a", tagRef("1"), GET);
    expect(first).toMatchObject({ digest: d, mediaType: MEDIA, outcome: "miss" });
    expect(first.body?.equals(manifestBody(1))).toBe(true);
    clock.now += TTL - 1;
    const again = await proxy.manifest("library/a", tagRef("1"), { head: true, accept: [] });
    expect(again).toMatchObject({ digest: d, outcome: "hit", size: manifestBody(1).length });
    expect(again.body).toBeUndefined();
    expect(remote.calls).toEqual(["GET manifest library/a:1"]);
  });

  it("a stale tag is revalidated with one HEAD; same digest: revalidated, fresh again", async () => {
    const { proxy, remote, clock } = await setup();
    remote.setTag("library/a", "1", manifestBody(1));
    await proxy.manifest("library/a", tagRef("1"), GET);
    clock.now += TTL;
    expect((await proxy.manifest("library/a", tagRef("1"), GET)).outcome).toBe("revalidated");
    expect((await proxy.manifest("library/a", tagRef("1"), GET)).outcome).toBe("hit");
    expect(remote.calls).toEqual(["GET manifest library/a:1", "HEAD manifest library/a:1"]);
  });

  it("a stale tag whose digest changed is fetched by its new digest", async () => {
    const { proxy, remote, clock } = await setup();
    remote.setTag("library/a", "1", manifestBody(1));
    await proxy.manifest("library/a", tagRef("1"), GET);
    const moved = remote.setTag("library/a", "1", manifestBody(2));
    clock.now += TTL;
    const m = await proxy.manifest("library/a", tagRef("1"), GET);
    expect(m).toMatchObject({ digest: moved, outcome: "miss" });
    expect(remote.calls.slice(1)).toEqual(["HEAD manifest library/a:1", `GET manifest library/a:${moved}`]);
  });

  it("concurrent requests for a stale tag share one HEAD", async () => {
    const { proxy, remote, clock } = await setup();
    remote.setTag("library/a", "1", manifestBody(1));
    await proxy.manifest("library/a", tagRef("1"), GET);
    clock.now += TTL;
    const all = await Promise.all(
      Array.from({ length: 20 }, () => proxy.manifest("library/a", tagRef("1"), GET)),
    );
    expect(all.every((m) => m.outcome === "revalidated")).toBe(true);
    expect(remote.calls.filter((c) => c.startsWith("HEAD"))).toHaveLength(1);
  });

  it("concurrent misses of one tag share one GET (coalesced)", async () => {
    const { proxy, remote } = await setup();
    remote.setTag("library/a", "1", manifestBody(1));
    const all = await Promise.all(
      Array.from({ length: 5 }, () => proxy.manifest("library/a", tagRef("1"), GET)),
    );
    expect(all.map((m) => m.outcome).sort()).toEqual([
      "coalesced",
      "coalesced",
      "coalesced",
      "coalesced",
      "miss",
    ]);
    expect(remote.calls).toEqual(["GET manifest library/a:1"]);
  });

  it("an upstream outage serves the stale tag with a warning; a verdict (unknown) drops it", async () => {
    const { proxy, remote, clock, cache } = await setup();
    const d = remote.setTag("library/a", "1", manifestBody(1));
    await proxy.manifest("library/a", tagRef("1"), GET);
    clock.now += TTL;
    remote.failure = new WharfError("UPSTREAM_UNAVAILABLE", "upstream docker.io unreachable (ECONNREFUSED)");
    const stale = await proxy.manifest("library/a", tagRef("1"), GET);
    expect(stale).toMatchObject({ digest: d, outcome: "stale" });
    expect(stale.warning).toContain("ECONNREFUSED");
    remote.failure = new WharfError("MANIFEST_UNKNOWN", "manifest unknown to upstream docker.io");
    await expect(proxy.manifest("library/a", tagRef("1"), GET)).rejects.toMatchObject({
      code: "MANIFEST_UNKNOWN",
    });
    expect(cache.db.getTag("docker.io", "library/a", "1")).toBeUndefined();
  });

  it("a low rate-limit allowance serves the stale tag without asking upstream", async () => {
    const { proxy, remote, clock, rateLimits } = await setup();
    remote.setTag("library/a", "1", manifestBody(1));
    await proxy.manifest("library/a", tagRef("1"), GET);
    rateLimits.record("docker.io", undefined, { limit: "100;w=21600", remaining: "5;w=21600" });
    clock.now += TTL;
    const m = await proxy.manifest("library/a", tagRef("1"), GET);
    expect(m.outcome).toBe("stale");
    expect(m.warning).toContain("allowance");
    expect(remote.calls).toEqual(["GET manifest library/a:1"]);
  });

  it("offline: cached tags are hits however old, uncached ones MANIFEST_UNKNOWN, no upstream call", async () => {
    const { proxy, offlineProxy, remote, clock } = await setup();
    remote.setTag("library/a", "1", manifestBody(1));
    await proxy.manifest("library/a", tagRef("1"), GET);
    clock.now += 100 * TTL;
    expect((await offlineProxy.manifest("library/a", tagRef("1"), GET)).outcome).toBe("hit");
    await expect(offlineProxy.manifest("library/a", tagRef("2"), GET)).rejects.toMatchObject({
      code: "MANIFEST_UNKNOWN",
    });
    expect((await offlineProxy.tags("library/a", {})).tags).toEqual(["1"]);
    expect(remote.calls).toEqual(["GET manifest library/a:1"]);
  });

  it("by digest: local first, a hit never asks upstream; an Accept the manifest misses is MANIFEST_UNKNOWN", async () => {
    const { proxy, remote } = await setup();
    const d = remote.setTag("library/a", "1", manifestBody(1));
    await proxy.manifest("library/a", tagRef("1"), GET);
    expect((await proxy.manifest("library/a", tagRef(d), GET)).outcome).toBe("hit");
    await expect(
      proxy.manifest("library/a", tagRef(d), {
        head: false,
        accept: ["application/vnd.docker.distribution.manifest.v2+json"],
      }),
    ).rejects.toMatchObject({ code: "MANIFEST_UNKNOWN" });
    expect(remote.calls).toEqual(["GET manifest library/a:1"]);
  });
});

describe("ProxyRegistry blobs", () => {
  it("a miss fills from upstream once; concurrent clients coalesce; then hits and ranges come from the store", async () => {
    const { proxy, remote, cache } = await setup();
    const data = randomBytes(2 * 1024 * 1024 + 5);
    const d = digestOf(data);
    remote.blobs.set(d.value, data);
    const got = await Promise.all(
      Array.from({ length: 3 }, () => proxy.blob("library/a", d, { head: false })),
    );
    expect(got.map((b) => b.outcome).sort()).toEqual(["coalesced", "coalesced", "miss"]);
    for (const b of got) expect((await bytesOf(b.body)).equals(data)).toBe(true);
    await cache.fills.get(d.value)?.done; // committed to the store once verified
    const hit = await proxy.blob("library/a", d, { head: false, range: { kind: "suffix", length: 10 } });
    expect(hit).toMatchObject({
      outcome: "hit",
      size: data.length,
      range: { start: data.length - 10, end: data.length - 1 },
    });
    expect((await bytesOf(hit.body)).equals(data.subarray(data.length - 10))).toBe(true);
    await expect(
      proxy.blob("library/a", d, { head: false, range: { kind: "from", start: data.length } }),
    ).rejects.toMatchObject({ code: "RANGE_INVALID" });
    expect(remote.calls).toEqual([`GET blob library/a@${d.value}`]);
  });

  it("HEAD of an uncached blob asks upstream with HEAD and stores nothing", async () => {
    const { proxy, remote, cache } = await setup();
    const data = randomBytes(100);
    const d = digestOf(data);
    remote.blobs.set(d.value, data);
    expect(await proxy.blob("library/a", d, { head: true })).toEqual({
      digest: d.value,
      size: 100,
      outcome: "passthrough",
    });
    expect(await cache.blobSize(d)).toBeUndefined();
    expect(remote.calls).toEqual([`HEAD blob library/a@${d.value}`]);
  });

  it("a ranged request for a blob still being fetched is answered only once the blob is verified", async () => {
    const { proxy, remote } = await setup();
    const data = randomBytes(3 * 1024 * 1024);
    const d = digestOf(data);
    remote.blobs.set(d.value, data);
    const upstream = new PassThrough();
    remote.blobStreams = [upstream];
    const whole = await proxy.blob("library/a", d, { head: false });
    expect(whole.outcome).toBe("miss");
    upstream.write(data.subarray(0, 1024 * 1024));
    let answered = false;
    const ranged = proxy
      .blob("library/a", d, { head: false, range: { kind: "from", start: 0, end: 99 } })
      .then((b) => {
        answered = true;
        return b;
      });
    await new Promise((r) => setTimeout(r, 100));
    expect(answered).toBe(false); // its bytes are there, but the digest is not checked yet
    upstream.end(data.subarray(1024 * 1024));
    const slice = await ranged;
    expect(slice).toMatchObject({ outcome: "coalesced", range: { start: 0, end: 99 }, size: data.length });
    expect((await bytesOf(slice.body)).equals(data.subarray(0, 100))).toBe(true);
    expect((await bytesOf(whole.body)).equals(data)).toBe(true);
    expect(remote.calls).toHaveLength(1);
  });

  it("a ranged request for a blob that fails its digest gets the error, never bytes", async () => {
    const { proxy, remote } = await setup();
    const data = randomBytes(3 * 1024 * 1024);
    const d = digestOf(data);
    const wrong = Buffer.from(data);
    wrong.writeUInt8((wrong.at(-1) ?? 0) ^ 1, wrong.length - 1);
    remote.blobs.set(d.value, wrong);
    await expect(
      proxy.blob("library/a", d, { head: false, range: { kind: "from", start: 0, end: 9 } }),
    ).rejects.toMatchObject({ code: "UPSTREAM_INVALID" });
  });

  it("a small blob is answered from memory once verified", async () => {
    const { proxy, remote } = await setup();
    const data = randomBytes(1000);
    const d = digestOf(data);
    remote.blobs.set(d.value, data);
    const b = await proxy.blob("library/a", d, { head: false, range: { kind: "from", start: 10, end: 19 } });
    expect(Buffer.isBuffer(b.body)).toBe(true);
    expect(b).toMatchObject({ outcome: "miss", size: 1000, range: { start: 10, end: 19 } });
    expect((b.body as Buffer).equals(data.subarray(10, 20))).toBe(true);
  });

  it("offline: an uncached blob is BLOB_UNKNOWN without an upstream call", async () => {
    const { offlineProxy, remote } = await setup();
    await expect(
      offlineProxy.blob("library/a", digestOf(Buffer.from("x")), { head: false }),
    ).rejects.toMatchObject({
      code: "BLOB_UNKNOWN",
    });
    expect(remote.calls).toEqual([]);
  });
});

describe("ProxyRegistry tags", () => {
  it("passes the upstream's page and Link through", async () => {
    const { proxy } = await setup();
    expect(await proxy.tags("library/a", { n: 2 })).toEqual({
      name: "library/a",
      tags: ["b", "a"],
      link: '</v2/x/tags/list?n=2&last=b>; rel="next"',
      outcome: "passthrough",
    });
  });
});
