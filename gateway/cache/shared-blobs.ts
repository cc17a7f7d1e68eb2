// The cache's side of a shared blob store (storage.kind s3, docs/storage.md): the local disk stays
// the read-through cache of hot blobs and the temporary area of fills; the shared store holds every
// blob any replica has verified. A fill looks there before it asks upstream, and a fill from
// upstream is uploaded there once verified and committed locally.
import { createReadStream } from "node:fs";
import type { Readable } from "node:stream";
import { isWharfError } from "../../common/errors.ts";
import type { Logger } from "../log.ts";
import type { Digest } from "../oci/digest.ts";
import type { BlobStore as BlobStoreApi } from "../store/blob-store-api.ts";
import type { FillLease, FillLeases } from "../store/s3/s3-fill-lease.ts";
import type { FillSource } from "./blob-fill.ts";

export interface SharedBlobStore extends BlobStoreApi {
  /** Sets aside an object whose bytes do not match its digest, so it is never served again. */
  quarantine(d: Digest): Promise<void>;
  /** Fill leases: one replica fetches an uncached blob upstream, the others wait for the store. */
  readonly leases?: FillLeases;
}

/** A replica waiting for another's fill polls the store this often (doubling up to the max). */
const POLL_FIRST_MS = 100;
const POLL_MAX_MS = 1000;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * A fill source that reads the shared store when it holds `d`. Otherwise this replica asks
 * upstream only if it gets the blob's fill lease (`on.lease` receives it; the caller releases it
 * once the blob is in the store or the fill failed); while another replica holds the lease, it
 * waits until the blob appears in the store (or the lease expires and it can take over).
 * `on.shared` runs before the body is returned when the bytes come from the shared store.
 */
export function sharedFirst(
  shared: SharedBlobStore,
  d: Digest,
  upstream: (signal: AbortSignal) => Promise<FillSource>,
  on: { shared(): void; lease(l: FillLease): void; unavailable(e: unknown): void },
): (signal: AbortSignal) => Promise<FillSource> {
  const fromShared = (size: number, signal: AbortSignal): FillSource => {
    on.shared();
    const body = shared.createReadStream(d);
    signal.addEventListener("abort", () => body.destroy(signal.reason), { once: true });
    return { body, size };
  };
  const settle = async (signal: AbortSignal): Promise<FillSource | undefined> => {
    for (let wait = POLL_FIRST_MS; ; wait = Math.min(wait * 2, POLL_MAX_MS)) {
      const size = await shared.size(d);
      if (size !== undefined) return fromShared(size, signal);
      if (!shared.leases) return undefined;
      const lease = await shared.leases.acquire(d);
      if (lease) {
        // the previous holder may have stored it between our look and our lease
        const stored = await shared.size(d);
        if (stored !== undefined) {
          await lease.release();
          return fromShared(stored, signal);
        }
        on.lease(lease);
        return undefined;
      }
      await sleep(wait, signal); // bounded by the fill's timeout, which aborts `signal`
    }
  };
  return async (signal) => {
    let found: FillSource | undefined;
    try {
      found = await settle(signal);
    } catch (e) {
      if (signal.aborted) throw e;
      // a store that is down must not take serving down with it: this replica fills alone
      on.unavailable(e);
    }
    return found ?? upstream(signal);
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

/** Uploads a verified, locally stored blob; a failure leaves it local only (logged, not fatal). */
export async function shareStored(
  shared: SharedBlobStore,
  d: Digest,
  path: string,
  log: Logger,
): Promise<void> {
  const started = Date.now();
  try {
    const size = await uploadToShared(shared, d, path);
    log.debug({ digest: d.value, size, ms: Date.now() - started }, "blob uploaded to the shared store");
  } catch (e) {
    log.warn({ digest: d.value, err: (e as Error).message }, "could not upload blob to the shared store");
  }
}

/**
 * After a fill from the shared store failed: bytes that did not match the digest (or its length)
 * are set aside in the store, so that the next fill of any replica goes upstream.
 */
export async function quarantineIfCorrupt(
  shared: SharedBlobStore,
  d: Digest,
  error: Error | undefined,
  log: Logger,
): Promise<void> {
  if (!isWharfError(error) || error.code !== "UPSTREAM_INVALID") return;
  await shared.quarantine(d).then(
    () => log.error({ digest: d.value }, "shared store object does not match its digest; quarantined"),
    () => {},
  );
}
