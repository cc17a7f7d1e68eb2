// A hosted blob this replica does not hold, in a replica set: another replica pushed it into the
// bucket. It is read through this replica's disk like any fill from the shared store (digest
// verified, the last byte held back until it matched; a slice or a small blob served only once
// verified, as the proxy does), so the next read is local.
import { isWharfError, WharfError } from "../../../common/errors.ts";
import { SMALL_BLOB_BYTES } from "../../cache/blob-fill.ts";
import type { ContentCache } from "../../cache/content-cache.ts";
import { fillFileBody } from "../../cache/fill-body.ts";
import type { Digest } from "../../oci/digest.ts";
import type { BlobContent, RangeRequest } from "../registry.ts";
import { resolveRange } from "../resolve-range.ts";

export async function readShared(
  cache: ContentCache,
  digest: Digest,
  opts: { head: boolean; range?: RangeRequest },
): Promise<BlobContent> {
  const unknownBlob = () =>
    new WharfError("BLOB_UNKNOWN", "blob unknown to registry", { detail: { digest: digest.value } });
  // a bucket that does not answer is a 503 (clients retry), not an unknown blob nor a 500
  const sizeInBucket = () =>
    cache.sharedSize(digest).catch((e: unknown) => {
      if (isWharfError(e)) throw e;
      throw new WharfError("STORE_UNAVAILABLE", "the shared store is unavailable", { cause: e });
    });
  if (opts.head && !cache.fills.has(digest.value)) {
    const size = await sizeInBucket();
    if (size === undefined) throw unknownBlob();
    return { digest: digest.value, size, outcome: "hit" };
  }
  // the source is asked when the bucket does not hold it (then nobody has it) or did not answer
  const { fill, joined } = cache.fill(digest, async () => {
    await sizeInBucket();
    throw unknownBlob();
  });
  await fill.started;
  if (fill.broken) throw fill.error;
  const outcome = joined ? "coalesced" : "miss";
  if (opts.head) return { digest: digest.value, size: fill.size, outcome };
  // a slice, or a small blob, is served from verified bytes only (as the proxy does)
  if (opts.range || (fill.size !== undefined && fill.size <= SMALL_BLOB_BYTES)) await fill.whenVerified();
  const total = fill.size;
  const r = opts.range && total !== undefined ? resolveRange(opts.range, total) : undefined;
  if (fill.bytes) {
    const body = r ? fill.bytes.subarray(r.start, r.end + 1) : fill.bytes;
    return { digest: digest.value, size: fill.bytes.length, ...(r && { range: r }), body, outcome };
  }
  if (total === undefined)
    return {
      digest: digest.value,
      size: undefined,
      body: cache.holdStream(digest.value, fill.reader()),
      outcome,
    };
  return {
    digest: digest.value,
    size: total,
    ...(r && { range: r }),
    body: fillFileBody(fill, r?.start ?? 0, r?.end ?? total - 1, cache.hold(digest.value)),
    outcome,
  };
}
