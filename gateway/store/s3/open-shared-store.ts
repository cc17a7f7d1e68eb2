// The shared blob store a configuration asks for: none for storage.kind filesystem, the bucket for
// s3 (its keys resolved by load-config.ts; a missing key is a CONFIG_INVALID at start, not later).
// The S3 modules load only then: the AWS SDK adds about 30 MiB of resident memory to a process.
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { WharfError } from "../../../common/errors.ts";
import type { SharedBlobStore } from "../../cache/shared-blobs.ts";
import type { LoadedConfig } from "../../config/load-config.ts";

export async function openSharedStore(loaded: LoadedConfig): Promise<SharedBlobStore | undefined> {
  const { storage } = loaded.config;
  if (storage.kind !== "s3" || !storage.s3) return undefined;
  if (!loaded.storageCredentials)
    throw new WharfError("CONFIG_INVALID", "storage.s3: access and secret key were not resolved");
  // the holder names this process in the fill leases it takes (for operators reading the bucket)
  const holder = `${hostname()}/${process.pid}/${randomBytes(4).toString("hex")}`;
  const [{ S3BlobStore }, { createS3Client }] = await Promise.all([
    import("./s3-blob-store.ts"),
    import("./s3-client.ts"),
  ]);
  return new S3BlobStore(createS3Client(storage.s3, loaded.storageCredentials), {
    holder,
    leaseTtlMs: storage.s3.leaseTime,
  });
}
