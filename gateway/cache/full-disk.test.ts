// The cache on a real, completely full file system (a tmpfs this test mounts; it runs as root):
// optional metadata writes are skipped, required ones become 503, eviction frees space without
// throwing (record deletes the disk refuses are retried), and fills are refused before upstream
// is asked (issue 13, failure 1).
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { link, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isWharfError } from "../../common/errors.ts";
import { silentLogger } from "../log.ts";
import { parseDigest } from "../oci/digest.ts";
import { Evictor } from "./evictor.ts";
import { type OpenedCache, openCache } from "./open-cache.ts";

let mnt = "";
let o: OpenedCache;
const BLOB = 512 * 1024;

beforeAll(async () => {
  mnt = await mkdtemp(join(tmpdir(), "wharf-full-"));
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", mnt]);
  o = await openCache({
    dataDir: join(mnt, "data"),
    log: silentLogger,
    fillTimeoutMs: 10_000,
    minFree: 64 * 1024,
  });
});

afterAll(async () => {
  o?.close();
  execFileSync("umount", ["-l", mnt]);
  await rm(mnt, { recursive: true, force: true });
});

describe("cache on a full disk", () => {
  it("skips hints, refuses fills and required writes with 503, and evicts without crashing", async () => {
    const { cache } = o;
    const digests = [];
    for (let i = 0; i < 4; i++) {
      const data = randomBytes(BLOB);
      const d = parseDigest(`sha256:${createHash("sha256").update(data).digest("hex")}`);
      await cache.store.writeVerified(d, data);
      cache.db.putBlob(d.value, BLOB, null, 1_000 + i);
      digests.push(d);
      // a second name keeps the bytes allocated after eviction unlinks the blob, as a client
      // still reading an evicted file does: deleting files then frees nothing at first
      await link(cache.store.pathOf(d), join(mnt, `held-${i}`));
    }
    execFileSync("sh", ["-c", `dd if=/dev/zero of=${join(mnt, "filler")} bs=64k 2>/dev/null || true`]);

    // hints are skipped, not thrown
    for (let i = 0; i < 50; i++) cache.db.touchBlob((digests[0] as { value: string }).value, Date.now() + i);
    cache.db.noteRepoBlob("docker.io", "library/x", (digests[0] as { value: string }).value, Date.now());
    // a required write is a 503 with Retry-After
    let tagError: unknown;
    try {
      for (let i = 0; i < 200; i++)
        cache.db.putTag({
          registry: "docker.io",
          repository: `library/r${i}`,
          tag: "latest".repeat(20),
          digest: (digests[0] as { value: string }).value,
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          size: 1,
          fetchedAt: 1,
          checkedAt: 1,
        });
    } catch (e) {
      tagError = e;
    }
    expect(isWharfError(tagError) && tagError.status).toBe(503);
    expect(isWharfError(tagError) && tagError.headers["retry-after"]).toBeTruthy();

    // a fill is refused before its source is opened
    let opened = false;
    const { fill } = cache.fill(parseDigest(`sha256:${"a".repeat(64)}`), async () => {
      opened = true;
      return { body: Readable.from([Buffer.from("x")]), size: 1 };
    });
    await fill.started;
    expect(fill.broken).toBe(true);
    expect(isWharfError(fill.error) && fill.error.code).toBe("STORE_UNAVAILABLE");
    expect(opened).toBe(false);
    expect(cache.health.writable).toBe(false);

    // eviction to one blob: files go first, the run never rejects, refused record deletes wait
    const evictor = new Evictor({
      cache,
      maxSize: BLOB * 1.5, // evicts down to 90 %: one blob stays
      minFree: 0,
      dataDir: join(mnt, "data"),
      log: silentLogger,
      intervalMs: 60_000,
    });
    const r = await evictor.run();
    expect(r.evicted).toBe(3);
    for (const d of digests.slice(0, 3)) expect(await cache.store.size(d)).toBeUndefined();
    expect(await cache.store.size(digests[3] as ReturnType<typeof parseDigest>)).toBe(BLOB);
    expect(cache.pendingDeletes.size).toBeGreaterThan(0);
    // a second pass with the disk still full: no crash, nothing evicted twice
    expect((await evictor.run()).evicted).toBe(0);

    // with room again, the next pass leaves no record of a removed file behind
    await rm(join(mnt, "filler"));
    for (let i = 0; i < 4; i++) await rm(join(mnt, `held-${i}`));
    await evictor.run();
    expect(cache.pendingDeletes.size).toBe(0);
    for (const d of digests.slice(0, 3)) expect(cache.db.getBlob(d.value)).toBeUndefined();
    expect(await cache.health.probe()).toBe(true);
  });
});
