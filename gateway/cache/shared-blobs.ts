// The cache's side of a shared blob store (storage.kind s3, docs/storage.md): the local disk stays
// the read-through cache of hot blobs and the temporary area of fills; the shared store holds every
// blob any replica has verified. A fill looks there before it asks upstream, and a fill from
// upstream is uploaded there once verified and committed locally.
import { createReadStream } from "node:fs";
import type { Readable } from "node:stream";
import type { Digest } from "../oci/digest.ts";
import type { BlobStore as BlobStoreApi } from "../store/blob-store-api.ts";
import type { FillSource } from "./blob-fill.ts";

export interface SharedBlobStore extends BlobStoreApi {
  /** Sets aside an object whose bytes do not match its digest, so it is never served again. */
  quarantine(d: Digest): Promise<void>;
}

/**
 * A fill source that reads the shared store when it holds `d`, else asks `upstream`. `onShared`
 * runs before the body is returned, when the bytes come from the shared store.
 */
export function sharedFirst(
  shared: SharedBlobStore,
  d: Digest,
  upstream: (signal: AbortSignal) => Promise<FillSource>,
  onShared: () => void,
): (signal: AbortSignal) => Promise<FillSource> {
  return async (signal) => {
    const size = await shared.size(d);
    if (size === undefined || signal.aborted) return upstream(signal);
    onShared();
    const body = shared.createReadStream(d);
    signal.addEventListener("abort", () => body.destroy(signal.reason), { once: true });
    return { body, size };
  };
}

/** Bytes per write into the shared store (one of its parts takes several). */
const UPLOAD_CHUNK = 1024 * 1024;

/**
 * Uploads a committed local blob file. The shared writer hashes the bytes again and completes the
 * object only when they match: a local file changed on disk never reaches the other replicas.
 */
export async function uploadToShared(shared: SharedBlobStore, d: Digest, path: string): Promise<number> {
  const w = await shared.begin(d);
  try {
    const file: Readable = createReadStream(path, { highWaterMark: UPLOAD_CHUNK });
    for await (const chunk of file) await w.write(chunk as Buffer);
    return await w.commit();
  } catch (e) {
    await w.abort();
    throw e;
  }
}
