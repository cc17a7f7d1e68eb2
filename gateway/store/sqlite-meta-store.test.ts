// The SQLite metadata store against the MetaStore conformance suite.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MetadataDb } from "../cache/metadata-db.ts";
import { metaStoreConformance } from "./meta-store.conformance.ts";

metaStoreConformance("sqlite", async () => {
  const dir = await mkdtemp(join(tmpdir(), "wharf-metastore-"));
  const db = new MetadataDb(join(dir, "metadata.sqlite"));
  return {
    store: db,
    cleanup: async () => {
      db.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});
