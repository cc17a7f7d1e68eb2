// Fill coordination across processes, with two caches on one dataDir standing in for two workers
// and the primary's lease table between them (messages delivered in order, as over IPC).
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, type Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { isWharfError } from "../../common/errors.ts";
import { ContentCache } from "../cache/content-cache.ts";
import type { FillCoordinator } from "../cache/fill-coordination.ts";
import { MetadataDb } from "../cache/metadata-db.ts";
import { silentLogger } from "../log.ts";
import { parseDigest } from "../oci/digest.ts";
import { FillLeases, FollowedFills } from "./cluster-fills.ts";

/** Two "workers" (participants 1 and 2) on one dataDir, coordinated by one lease table. */
async function twoWorkers() {
  const dir = await mkdtemp(join(tmpdir(), "wharf-cluster-fills-"));
  const followed = new Map([
    [1, new FollowedFills()],
    [2, new FollowedFills()],
  ]);
  // relayed asynchronously, like IPC
  const leases = new FillLeases((to, digest, p) => {
    const copy = structuredClone(p);
    setImmediate(() => followed.get(to)?.deliver(digest, copy));
  });
  const coordinator = (me: number): FillCoordinator => ({
    claim: async (digest, tempPath) => {
      await new Promise((r) => setImmediate(r));
      const a = leases.claim(me, digest, tempPath);
      return a.own ? undefined : followed.get(me)?.follow(digest, a.tempPath, a.last);
    },
    publish: (digest, p) => {
      const copy = structuredClone(p);
      setImmediate(() => leases.publish(me, digest, copy));
    },
  });
  const caches = [1, 2].map((me) => {
    const cache = new ContentCache({
      dataDir: dir,
      db: new MetadataDb(join(dir, "metadata.sqlite")),
      log: silentLogger,
      fillTimeoutMs: 10_000,
    });
    cache.fillCoordinator = coordinator(me);
    return cache;
  }) as [ContentCache, ContentCache];
  await caches[0].store.init();
  return { dir, leases, caches };
}

async function collect(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

const tick = () => new Promise((r) => setTimeout(r, 5));

function blob(size: number) {
  const data = randomBytes(size);
  return { data, digest: parseDigest(`sha256:${createHash("sha256").update(data).digest("hex")}`) };
}

describe("fills across workers", () => {
  it("the second worker follows the first one's file: one source opened, both read every byte", async () => {
    const { caches, leases } = await twoWorkers();
    const { data, digest } = blob(3 * 1024 * 1024 + 5);
    const src = new PassThrough();
    let opened = 0;
    const open = async () => {
      opened++;
      return { body: src, size: data.length };
    };
    const a = caches[0].fill(digest, open);
    await tick(); // worker 1 has the lease
    const b = caches[1].fill(digest, open);
    expect(b.joined).toBe(false); // not within its own process
    src.write(data.subarray(0, 1024 * 1024));
    await Promise.all([a.fill.started, b.fill.started]);
    expect(b.fill.followed).toBe(true);
    expect(b.fill.size).toBe(data.length);
    const readers = [collect(a.fill.reader()), collect(b.fill.reader()), collect(b.fill.reader(10, 99))];
    for (let i = 1024 * 1024; i < data.length; i += 65536) {
      src.write(data.subarray(i, i + 65536));
      await tick();
    }
    src.end();
    const [ra, rb, range] = (await Promise.all(readers)) as [Buffer, Buffer, Buffer];
    expect(ra.equals(data)).toBe(true);
    expect(rb.equals(data)).toBe(true);
    expect(range.equals(data.subarray(10, 100))).toBe(true);
    expect(await Promise.all([a.fill.done, b.fill.done])).toEqual([data.length, data.length]);
    expect(opened).toBe(1);
    expect(await caches[1].blobSize(digest)).toBe(data.length);
    expect(leases.filling()).toEqual([]); // committed: kept only as a finished fill
  });

  it("a small blob is released to the follower once it is verified and in the file", async () => {
    const { caches } = await twoWorkers();
    const { data, digest } = blob(1000);
    const a = caches[0].fill(digest, async () => ({ body: streamOf(data), size: data.length }));
    await tick();
    const b = caches[1].fill(digest, async () => {
      throw new Error("the follower must not fetch");
    });
    await b.fill.whenVerified();
    expect((await collect(b.fill.reader())).equals(data)).toBe(true);
    await Promise.all([a.fill.done, b.fill.done]);
  });

  it("a holder that exits fails its followers' fill (503); the next fill takes the lease", async () => {
    const { caches, leases, dir } = await twoWorkers();
    const { data, digest } = blob(2 * 1024 * 1024);
    const src = new PassThrough();
    const a = caches[0].fill(digest, async () => ({ body: src, size: data.length }));
    await tick();
    const b = caches[1].fill(digest, async () => ({ body: streamOf(data), size: data.length }));
    src.write(data.subarray(0, 512 * 1024));
    await b.fill.started;
    const reading = collect(b.fill.reader()).catch((e: Error) => e);
    // worker 1 dies: what the primary does when it sees the exit
    a.fill.abort(new Error("killed"));
    leases.exited(1);
    const err = await b.fill.done.catch((e: Error) => e);
    expect(isWharfError(err, "STORE_UNAVAILABLE")).toBe(true);
    expect(await reading).toBeInstanceOf(Error);
    await a.fill.done.catch(() => {});
    await tick();
    // a retry on worker 2 fetches again, and completes
    const again = caches[1].fill(digest, async () => ({ body: streamOf(data), size: data.length }));
    expect(await again.fill.done).toBe(data.length);
    expect(again.fill.followed).toBe(false);
    expect((await readdir(join(dir, "tmp"))).filter((f) => f.endsWith(".partial"))).toEqual([]);
  });
});

function streamOf(data: Buffer): PassThrough {
  const p = new PassThrough();
  p.end(data);
  return p;
}
