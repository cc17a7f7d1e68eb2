// The sync runner, pins and rollback with a real store and database in a temp dir and an
// upstream in memory behind the RemoteRegistry interface (what reaches the wire is in
// test/e2e/mirror.test.ts): what upstream was asked, what the target serves, what history holds.
// Every test runs on both mirror stores: the cache's SQLite, and a real PostgreSQL (a replica
// set), where a second "replica" (its own cache and SQLite, the same database) must see the same.
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { WharfError } from "../../common/errors.ts";
import { type Postgres, startPostgres } from "../../test/support/postgres.ts";
import { ContentCache } from "../cache/content-cache.ts";
import { MetadataDb } from "../cache/metadata-db.ts";
import { Secret } from "../config/secret.ts";
import { silentLogger } from "../log.ts";
import { type Digest, parseDigest } from "../oci/digest.ts";
import { OCI_INDEX, OCI_MANIFEST } from "../oci/media-types.ts";
import { HostedMeta } from "../registry/hosted/hosted-meta.ts";
import { openPostgres, type SharedMetadata } from "../store/pg/open-postgres.ts";
import { PgHostedIndex } from "../store/pg/pg-hosted-index.ts";
import { PgMirrorStore } from "../store/pg/pg-mirror-store.ts";
import type {
  RemoteBlob,
  RemoteManifest,
  RemoteRegistry,
  RemoteTagPage,
} from "../upstream/remote-registry.ts";
import { parseTagAddress, pin, rollback, tagDeps, tagView, unpin } from "./mirror-actions.ts";
import type { MirrorEntry } from "./mirror-entries.ts";
import type { MirrorStore } from "./mirror-store-api.ts";
import { openMirrorStore } from "./open-mirror-store.ts";
import { type SyncDeps, syncEntry } from "./sync-runner.ts";
import { TagOverrides } from "./tag-overrides.ts";

const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

class MemoryRemote implements RemoteRegistry {
  account = undefined;
  readonly calls: string[] = [];
  readonly tagMap = new Map<string, string>();
  readonly content = new Map<string, Buffer>();
  failBlob: string | undefined;

  put(body: Buffer): string {
    const d = sha(body);
    this.content.set(d, body);
    return d;
  }

  /** An image with one layer of `text`: config, layer, manifest. */
  image(text: string, platform = { os: "linux", architecture: "amd64" }): { digest: string; layer: string } {
    const config = Buffer.from(JSON.stringify({ ...platform, rootfs: { type: "layers", diff_ids: [] } }));
    const layer = Buffer.from(text);
    const m = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: {
          mediaType: "application/vnd.oci.image.config.v1+json",
          digest: this.put(config),
          size: config.length,
        },
        layers: [
          {
            mediaType: "application/vnd.oci.image.layer.v1.tar",
            digest: this.put(layer),
            size: layer.length,
          },
        ],
      }),
    );
    return { digest: this.put(m), layer: sha(layer) };
  }

  index(children: { digest: string; platform: { os: string; architecture: string } }[]): string {
    const body = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: children.map((c) => ({
          mediaType: OCI_MANIFEST,
          digest: c.digest,
          size: this.content.get(c.digest)?.length,
          platform: c.platform,
        })),
      }),
    );
    return this.put(body);
  }

  async headManifest(repo: string, tag: string): Promise<string | undefined> {
    this.calls.push(`HEAD ${repo}:${tag}`);
    const d = this.tagMap.get(tag);
    if (!d) throw new WharfError("MANIFEST_UNKNOWN", "unknown");
    return d;
  }

  async getManifest(repo: string, ref: string, expected?: Digest): Promise<RemoteManifest> {
    this.calls.push(`GET ${repo}@${ref}`);
    const d = expected?.value ?? this.tagMap.get(ref) ?? ref;
    const body = this.content.get(d);
    if (!body) throw new WharfError("MANIFEST_UNKNOWN", "unknown");
    return { digest: d, body, mediaType: JSON.parse(body.toString()).mediaType };
  }

  async getBlob(repo: string, d: Digest): Promise<RemoteBlob> {
    this.calls.push(`GET blob ${repo}@${d.value}`);
    if (this.failBlob === d.value) throw new WharfError("UPSTREAM_UNAVAILABLE", "upstream went away");
    const body = this.content.get(d.value);
    if (!body) throw new WharfError("BLOB_UNKNOWN", "unknown");
    return { body: Readable.from([body]), size: body.length };
  }

  async headBlob(): Promise<{ size: number | undefined }> {
    throw new Error("not used");
  }

  async tags(repo: string): Promise<RemoteTagPage> {
    this.calls.push(`LIST ${repo}`);
    return { name: repo, tags: [...this.tagMap.keys()] };
  }
}

const TARGET = { registry: "registry.internal", repository: "library/alpine" };

function entry(over: Partial<MirrorEntry> = {}): MirrorEntry {
  return {
    key: "mirror.0",
    source: { registry: "docker.io", repository: "library/alpine" },
    target: TARGET,
    tags: ["3.20"],
    platforms: "all",
    schedule: undefined,
    keep: 10,
    serveUpstreamName: true,
    historyTag: "{tag}-{time}",
    ...over,
  };
}

let server: Postgres;
beforeAll(async () => {
  server = await startPostgres();
}, 120_000);
afterAll(async () => {
  await server?.stop();
});

/** One node's cache: its own dataDir and SQLite. */
async function openNode(): Promise<{ dir: string; db: MetadataDb; cache: ContentCache }> {
  const d = await mkdtemp(join(tmpdir(), "wharf-mirror-unit-"));
  const database = new MetadataDb(join(d, "metadata.sqlite"));
  const c = new ContentCache({
    dataDir: d,
    db: database,
    log: silentLogger,
    fillTimeoutMs: 10_000,
    now: () => clock,
  });
  await c.store.init();
  return { dir: d, db: database, cache: c };
}

let dir: string;
let db: MetadataDb;
let cache: ContentCache;
let remote: MemoryRemote;
let clock: number;
let deps: SyncDeps;
let meta: HostedMeta;
let store: MirrorStore;
let shared: SharedMetadata | undefined;

const current = () => meta.getTag(TARGET.registry, TARGET.repository, "3.20")?.digest;

describe.each(["sqlite", "postgres"] as const)("mirror sync runner (%s store)", (kind) => {
  beforeEach(async () => {
    clock = Date.UTC(2026, 10, 30, 6, 0);
    ({ dir, db, cache } = await openNode());
    remote = new MemoryRemote();
    shared =
      kind === "postgres"
        ? await openPostgres(new Secret(await server.createDatabase()), silentLogger)
        : undefined;
    store = openMirrorStore(cache, shared);
    deps = { cache, store, remoteFor: () => remote, log: silentLogger, now: () => clock };
    meta = new HostedMeta(db);
  });

  afterEach(async () => {
    await shared?.close();
    db.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("copies, then only HEADs while upstream is unchanged, keeps history and prunes beyond keep", async () => {
    const v = [remote.image("one"), remote.image("two"), remote.image("three")];
    remote.tagMap.set("3.20", v[0]?.digest as string);
    let r = await syncEntry(deps, entry({ keep: 1 }));
    expect(r.tags[0]).toMatchObject({
      changed: true,
      previous: null,
      current: v[0]?.digest,
      platforms: ["linux/amd64"],
    });
    expect(remote.calls.filter((c) => c.startsWith("GET ") && !c.includes("blob"))).toHaveLength(1);
    expect(meta.linkKind(TARGET.registry, TARGET.repository, v[0]?.layer as string)).toBe("blob");

    remote.calls.length = 0;
    r = await syncEntry(deps, entry({ keep: 1 }));
    expect(r.tags[0]).toMatchObject({ changed: false, current: v[0]?.digest });
    expect(remote.calls).toEqual(["HEAD library/alpine:3.20"]);

    for (const i of [1, 2]) {
      clock += 60_000;
      remote.tagMap.set("3.20", v[i]?.digest as string);
      r = await syncEntry(deps, entry({ keep: 1 }));
      expect(r.tags[0]).toMatchObject({ changed: true, previous: v[i - 1]?.digest, current: v[i]?.digest });
    }
    const d = tagDeps(cache, store, () => clock);
    const history = await d.store.history(TARGET, "3.20");
    expect(history.map((h) => h.digest)).toEqual([v[1]?.digest]);
    expect(history[0]?.historyTag).toBe("3.20-20261130T0602Z");
    // the pruned entry's tag is gone, the kept one serves the previous digest
    expect(meta.getTag(TARGET.registry, TARGET.repository, "3.20-20261130T0601Z")).toBeUndefined();
    expect(meta.getTag(TARGET.registry, TARGET.repository, "3.20-20261130T0602Z")?.digest).toBe(v[1]?.digest);
  });

  it("a blob failing half-way leaves the target's records exactly as they were", async () => {
    const a = remote.image("a");
    const b = remote.image("b");
    remote.tagMap.set("3.20", a.digest);
    await syncEntry(deps, entry());
    const rows = () =>
      JSON.stringify([
        db.connection.prepare("SELECT * FROM hosted_tags ORDER BY tag").all(),
        db.connection
          .prepare("SELECT registry, repository, digest, kind FROM hosted_links ORDER BY digest")
          .all(),
      ]);
    const records = async () => JSON.stringify([await store.tags(), await store.history(TARGET, "3.20")]);
    const before = rows();
    const beforeRecords = await records();
    remote.tagMap.set("3.20", b.digest);
    remote.failBlob = b.layer;
    const r = await syncEntry(deps, entry());
    expect(r.ok).toBe(false);
    expect(r.tags[0]?.error).toContain("upstream went away");
    expect(rows()).toBe(before);
    expect(await records()).toBe(beforeRecords);
    remote.failBlob = undefined;
    expect((await syncEntry(deps, entry())).tags[0]).toMatchObject({ changed: true, current: b.digest });
  });

  it("copies an index whole with platforms all, and a filtered index with a subset", async () => {
    const amd = remote.image("amd");
    const arm = remote.image("arm", { os: "linux", architecture: "arm64" });
    const idx = remote.index([
      { digest: amd.digest, platform: { os: "linux", architecture: "amd64" } },
      { digest: arm.digest, platform: { os: "linux", architecture: "arm64" } },
    ]);
    remote.tagMap.set("3.20", idx);
    const all = await syncEntry(deps, entry());
    expect(all.tags[0]).toMatchObject({ current: idx, platforms: ["linux/amd64", "linux/arm64"] });
    const armOnly = entry({
      target: { registry: "registry.internal", repository: "arm/alpine" },
      platforms: ["linux/arm64"],
    });
    const r = await syncEntry(deps, armOnly);
    expect(r.tags[0]?.current).not.toBe(idx);
    expect(r.tags[0]?.platforms).toEqual(["linux/arm64"]);
    const body = (await cache.readManifest(parseDigest(r.tags[0]?.current as string)))?.body;
    expect(JSON.parse(String(body)).manifests.map((m: { digest: string }) => m.digest)).toEqual([arm.digest]);
    expect(meta.linkKind("registry.internal", "arm/alpine", amd.digest)).toBeUndefined();
    expect(meta.linkKind("registry.internal", "arm/alpine", arm.layer)).toBe("blob");
  });

  it("pin holds the tag and says why; rollback moves it back and the override map follows", async () => {
    const v = [remote.image("one"), remote.image("two"), remote.image("three")];
    const overrides = new TagOverrides({ store, entries: [entry()] });
    remote.tagMap.set("3.20", v[0]?.digest as string);
    await syncEntry(deps, entry());
    clock += 60_000;
    remote.tagMap.set("3.20", v[1]?.digest as string);
    await syncEntry(deps, entry());
    const d = tagDeps(cache, store, () => clock);
    const address = parseTagAddress([entry()], "registry.internal/library/alpine:3.20");
    await pin(d, address);
    remote.tagMap.set("3.20", v[2]?.digest as string);
    const r = await syncEntry(deps, entry());
    expect(r.tags[0]).toMatchObject({
      pinned: true,
      changed: false,
      current: v[1]?.digest,
      upstream: v[2]?.digest,
    });
    expect(r.tags[0]?.note).toContain("upstream moved");
    expect(current()).toBe(v[1]?.digest);

    clock += 60_000;
    const back = await rollback(d, address);
    expect(back).toMatchObject({ from: v[1]?.digest, to: v[0]?.digest });
    expect(current()).toBe(v[0]?.digest);
    await overrides.refresh();
    expect(overrides.lookup("docker.io", "library/alpine", "3.20")?.digest).toBe(v[0]?.digest);
    // rolling forward: the digest rolled back from is history now
    expect((await d.store.history(TARGET, "3.20")).map((h) => [h.digest, h.reason])).toContainEqual([
      v[1]?.digest,
      "rollback",
    ]);

    expect(await unpin(d, address)).toBe(true);
    const after = await syncEntry(deps, entry());
    expect(after.tags[0]).toMatchObject({ changed: true, current: v[2]?.digest });
  });

  it("dry run asks upstream and writes nothing", async () => {
    remote.tagMap.set("3.20", remote.image("one").digest);
    const r = await syncEntry({ ...deps, dryRun: true }, entry());
    expect(r.tags[0]).toMatchObject({ changed: true, current: null });
    expect(await store.runs()).toEqual([]);
    expect(db.connection.prepare("SELECT COUNT(*) AS n FROM blobs").get()).toEqual({ n: 0 });
    expect(current()).toBeUndefined();
  });

  // only a shared store has a second replica to show (not a skip: there is no such case for SQLite)
  if (kind === "postgres")
    it("a second replica sees the history and pins, and its serveUpstreamName answers follow a pin made on the first", async () => {
      const v = [remote.image("one"), remote.image("two")];
      const two = await openNode();
      try {
        const storeTwo = openMirrorStore(two.cache, shared);
        const e = entry({ serveUpstreamName: true });
        const overridesTwo = new TagOverrides({ store: storeTwo, entries: [e], pollMs: 50 });
        await overridesTwo.start();
        remote.tagMap.set("3.20", v[0]?.digest as string);
        await syncEntry(deps, e);
        clock += 60_000;
        remote.tagMap.set("3.20", v[1]?.digest as string);
        await syncEntry(deps, e);
        const address = parseTagAddress([e], "registry.internal/library/alpine:3.20");
        await pin(
          tagDeps(cache, store, () => clock),
          address,
          `${"3.20"}-20261130T0601Z`,
        );
        // replica two: nothing in its own SQLite, yet the same view and the pinned answer
        expect(new HostedMeta(two.db).getTag(TARGET.registry, TARGET.repository, "3.20")).toBeUndefined();
        const view = await tagView(
          tagDeps(two.cache, storeTwo, () => clock),
          address,
        );
        expect(view.current).toBe(v[0]?.digest);
        expect(view.record?.pinnedDigest).toBe(v[0]?.digest);
        expect(view.history.map((h) => [h.digest, h.reason])).toEqual([
          [v[1]?.digest, "pin"],
          [v[0]?.digest, "sync"],
        ]);
        for (
          let i = 0;
          i < 40 && overridesTwo.lookup("docker.io", "library/alpine", "3.20")?.digest !== v[0]?.digest;
          i++
        )
          await new Promise((r) => setTimeout(r, 25));
        expect(overridesTwo.lookup("docker.io", "library/alpine", "3.20")).toEqual({
          digest: v[0]?.digest,
          mediaType: OCI_MANIFEST,
        });
        // a sync from replica two leaves the pinned tag alone and says upstream moved
        const fromTwo = await syncEntry({ ...deps, cache: two.cache, store: storeTwo }, e);
        expect(fromTwo.tags[0]).toMatchObject({ pinned: true, changed: false, current: v[0]?.digest });
        overridesTwo.stop();
      } finally {
        two.db.close();
        await rm(two.dir, { recursive: true, force: true });
      }
    });
});

// A replica set on a bucket: the target is a shared hosted registry, its records in PostgreSQL.
describe("mirror sync into a shared hosted index (PostgreSQL targets)", () => {
  let pgMeta: SharedMetadata;
  beforeEach(async () => {
    clock = Date.UTC(2026, 10, 30, 6, 0);
    ({ dir, db, cache } = await openNode());
    remote = new MemoryRemote();
    pgMeta = await openPostgres(new Secret(await server.createDatabase()), silentLogger);
    store = new PgMirrorStore(pgMeta.pool); // shared targets (the bucket check is not needed here)
    deps = { cache, store, remoteFor: () => remote, log: silentLogger, now: () => clock };
  });
  afterEach(async () => {
    await pgMeta?.close();
    db.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("a sync and a pin move the shared tag with its links and history tags; this node's SQLite stays empty", async () => {
    const [a, b] = [remote.image("a"), remote.image("b")];
    const index = new PgHostedIndex(pgMeta.pool);
    const tag = () => index.getTag(TARGET.registry, TARGET.repository, "3.20");
    remote.tagMap.set("3.20", a.digest);
    await syncEntry(deps, entry());
    expect((await tag())?.digest).toBe(a.digest);
    expect(await index.linkKind(TARGET.registry, TARGET.repository, a.layer)).toBe("blob");
    expect(await index.linkKind(TARGET.registry, TARGET.repository, a.digest)).toBe("manifest");
    clock += 60_000;
    remote.tagMap.set("3.20", b.digest);
    await syncEntry(deps, entry());
    expect((await tag())?.digest).toBe(b.digest);
    const history = await store.history(TARGET, "3.20");
    const made = history[0]?.historyTag as string;
    expect((await index.getTag(TARGET.registry, TARGET.repository, made))?.digest).toBe(a.digest);
    await pin(
      tagDeps(cache, store, () => clock),
      parseTagAddress([entry()], `${showTarget()}:3.20`),
      a.digest,
    );
    expect((await tag())?.digest).toBe(a.digest);
    expect(new HostedMeta(db).getTag(TARGET.registry, TARGET.repository, "3.20")).toBeUndefined();
  });

  it("a target synced while targets were per replica gets its shared tag at the next sync", async () => {
    const a = remote.image("a");
    remote.tagMap.set("3.20", a.digest);
    await syncEntry(deps, entry());
    await pgMeta.pool.query("DELETE FROM hosted_tags"); // as before this version: not in the shared index
    const r = await syncEntry(deps, entry());
    expect(r.tags[0]).toMatchObject({ changed: false, current: a.digest });
    const t = await new PgHostedIndex(pgMeta.pool).getTag(TARGET.registry, TARGET.repository, "3.20");
    expect(t?.digest).toBe(a.digest);
  });
});

const showTarget = () => `${TARGET.registry}/${TARGET.repository}`;
