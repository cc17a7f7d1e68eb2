// Where a stored blob goes when its bytes no longer match its digest, whoever found it (a manifest
// read, the background scrub, `wharf cache verify`): dataDir/quarantine, kept for a look, never
// served again; its record goes, so the next request fetches it anew.
import { mkdir, rename } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "../log.ts";
import { parseDigest } from "../oci/digest.ts";
import type { BlobStore } from "./blob-store.ts";
import type { MetadataDb } from "./metadata-db.ts";
import { storeProblem } from "./store-errors.ts";

export async function quarantineBlob(
  c: { dataDir: string; store: BlobStore; db: MetadataDb; log: Logger },
  digest: string,
  foundBy: string,
): Promise<void> {
  const d = parseDigest(digest);
  const dir = join(c.dataDir, "quarantine");
  try {
    await mkdir(dir, { recursive: true });
    await rename(c.store.pathOf(d), join(dir, digest.replace(":", "-")));
  } catch {
    await c.store.remove(d).catch(() => {});
  }
  try {
    c.db.deleteBlob(digest);
  } catch (e) {
    // a full disk: the file is out of the way already, and a record without a file is dropped on read
    if (!storeProblem(e)) throw e;
  }
  c.log.error({ digest, foundBy }, "stored blob does not match its digest; quarantined");
}
