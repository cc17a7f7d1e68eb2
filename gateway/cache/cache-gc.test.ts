// `wharf cache gc` runs in its own process beside the server: it must ask the server which blobs
// it is streaming (over the data-dir lock socket) and leave those alone (issue 13, item 5).
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../log.ts";
import { parseDigest } from "../oci/digest.ts";
import { collectGarbage } from "./cache-maintenance.ts";
import { type OpenedCache, openCache } from "./open-cache.ts";

const opened: OpenedCache[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const o of opened.splice(0)) o.close();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function storeBlob(o: OpenedCache, n: number) {
  const data = randomBytes(64 * 1024 + n);
  const d = parseDigest(`sha256:${createHash("sha256").update(data).digest("hex")}`);
  await o.cache.store.writeVerified(d, data);
  o.cache.db.putBlob(d.value, data.length, null, 1_000 + n);
  return d;
}

describe("cache gc beside a running server", () => {
  it("evicts to maxSize but never a blob the server is streaming", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "wharf-gc-"));
    dirs.push(dataDir);
    const server = await openCache({ dataDir, log: silentLogger, fillTimeoutMs: 10_000 });
    opened.push(server);
    const blobs = [];
    for (let i = 0; i < 4; i++) blobs.push(await storeBlob(server, i));
    // the least recently used blob is the one being served
    const served = blobs[0] as ReturnType<typeof parseDigest>;
    const body = server.cache.openBlob(served, (await server.cache.blobSize(served)) as number);

    const cli = await openCache({ dataDir, log: silentLogger, fillTimeoutMs: 10_000, shared: true });
    opened.push(cli);
    const r = await collectGarbage(cli.cache, {
      dataDir,
      maxSize: 0,
      minFree: 0,
      dryRun: false,
      log: silentLogger,
    });
    expect(r.evicted).toBe(3);
    expect(await server.cache.store.size(served)).toBeGreaterThan(0);
    for (const d of blobs.slice(1)) expect(await server.cache.store.size(d)).toBeUndefined();

    // released: the next gc may take it
    body.release();
    const again = await collectGarbage(cli.cache, {
      dataDir,
      maxSize: 0,
      minFree: 0,
      dryRun: false,
      log: silentLogger,
    });
    expect(again.evicted).toBe(1);
    expect(await server.cache.store.size(served)).toBeUndefined();
  });
});
