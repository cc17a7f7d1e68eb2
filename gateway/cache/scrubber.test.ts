// The background scrub finds a blob corrupted on disk after it was stored and quarantines it, so
// it is fetched again instead of served; it reads at the configured rate (issue 13, item 5).
import { createHash, randomBytes } from "node:crypto";
import { unlinkSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../log.ts";
import { parseDigest } from "../oci/digest.ts";
import { verifyBlobs } from "./cache-maintenance.ts";
import { type OpenedCache, openCache } from "./open-cache.ts";
import { Scrubber } from "./scrubber.ts";

let o: OpenedCache | undefined;
let dataDir = "";

afterEach(async () => {
  o?.close();
  await rm(dataDir, { recursive: true, force: true });
});

async function setup() {
  dataDir = await mkdtemp(join(tmpdir(), "wharf-scrub-"));
  o = await openCache({ dataDir, log: silentLogger, fillTimeoutMs: 10_000 });
  const cache = o.cache;
  const put = async (data: Buffer, mediaType: string | null = null) => {
    const d = parseDigest(`sha256:${createHash("sha256").update(data).digest("hex")}`);
    await cache.store.writeVerified(d, data);
    cache.db.putBlob(d.value, data.length, mediaType, Date.now());
    return d;
  };
  const flip = async (d: ReturnType<typeof parseDigest>, at: number) => {
    const path = cache.store.pathOf(d);
    const bytes = await readFile(path);
    bytes[at] = (bytes[at] as number) ^ 0xff;
    await writeFile(path, bytes);
  };
  return { cache, put, flip };
}

describe("Scrubber", () => {
  it("quarantines a blob whose bytes changed on disk and leaves good ones", async () => {
    const { cache, put, flip } = await setup();
    const good = await put(randomBytes(300_000));
    const bad = await put(randomBytes(2_000_000));
    await flip(bad, 1_234_567);
    expect(await cache.blobSize(bad)).toBe(2_000_000); // served until the scrub runs

    const scrubber = new Scrubber({ cache, log: silentLogger, intervalMs: 60_000, bytesPerSecond: 1e12 });
    const r = await scrubber.pass();
    expect(r.checked).toBe(2);
    expect(r.quarantined).toEqual([bad.value]);
    expect(await cache.blobSize(bad)).toBeUndefined(); // a miss now: fetched again from upstream
    expect(cache.db.getBlob(bad.value)).toBeUndefined();
    expect(await cache.blobSize(good)).toBe(300_000);
    expect(await readdir(join(dataDir, "quarantine"))).toEqual([bad.value.replace(":", "-")]);
  });

  it("reads no faster than bytesPerSecond", async () => {
    const { cache, put } = await setup();
    await put(randomBytes(3 * 1024 * 1024));
    const scrubber = new Scrubber({
      cache,
      log: silentLogger,
      intervalMs: 60_000,
      bytesPerSecond: 4 * 1024 * 1024,
    });
    const t0 = performance.now();
    await scrubber.pass();
    // 3 MiB at 4 MiB/s: the last 1 MiB chunk is due at 0.75 s
    expect(performance.now() - t0).toBeGreaterThan(650);
  });

  it("runs on its own schedule once started", async () => {
    const { cache, put, flip } = await setup();
    const bad = await put(randomBytes(100_000));
    await flip(bad, 10);
    const scrubber = new Scrubber({ cache, log: silentLogger, intervalMs: 60_000, bytesPerSecond: 1e12 });
    scrubber.start(10);
    const deadline = Date.now() + 5_000;
    while ((await cache.blobSize(bad)) !== undefined && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    scrubber.stop();
    expect(await cache.blobSize(bad)).toBeUndefined();
  });

  it("checks a manifest read from disk against its digest", async () => {
    const { cache, put, flip } = await setup();
    const body = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json" }),
    );
    const d = await put(body, "application/vnd.oci.image.manifest.v1+json");
    await flip(d, 5);
    expect(await cache.readManifest(d)).toBeUndefined();
    expect(await cache.blobSize(d)).toBeUndefined();
  });

  it("shares its check and quarantine with `wharf cache verify`, which leaves a blob evicted meanwhile alone", async () => {
    const { cache, put, flip } = await setup();
    const good = await put(randomBytes(300_000));
    const bad = await put(randomBytes(500_000));
    const evicted = await put(randomBytes(200_000));
    await flip(bad, 4321);
    const r = await verifyBlobs(cache, () => {
      // listed, then evicted by the server running beside `cache verify` before it is read
      unlinkSync(cache.store.pathOf(evicted));
      return { increment() {}, stop() {} };
    });
    expect(r.quarantined).toEqual([bad.value]);
    expect(r.checked).toBe(2);
    expect(await cache.blobSize(good)).toBe(300_000);
    expect(cache.db.getBlob(bad.value)).toBeUndefined();
    expect(await readdir(join(dataDir, "quarantine"))).toEqual([bad.value.replace(":", "-")]);
  });
});
