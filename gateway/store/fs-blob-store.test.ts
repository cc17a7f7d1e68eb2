// The filesystem blob store against the BlobStore conformance suite, plus what only it promises:
// a failed commit leaves no temporary file behind.
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { BlobStore } from "../cache/blob-store.ts";
import { parseDigest } from "../oci/digest.ts";
import { blobStoreConformance } from "./blob-store.conformance.ts";

blobStoreConformance("filesystem", async () => {
  const dir = await mkdtemp(join(tmpdir(), "wharf-blobstore-"));
  return { store: new BlobStore(dir), cleanup: () => rm(dir, { recursive: true, force: true }) };
});

it("a refused or aborted write leaves no temporary file", async () => {
  const dir = await mkdtemp(join(tmpdir(), "wharf-blobstore-"));
  try {
    const store = new BlobStore(dir);
    await store.init();
    const d = parseDigest(`sha256:${"0".repeat(64)}`);
    const refused = await store.begin(d);
    await refused.write(Buffer.from("x"));
    await expect(refused.commit()).rejects.toThrow(/does not match/);
    const aborted = await store.begin(d);
    await aborted.abort();
    expect(await readdir(store.tmpDir)).toEqual([]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
