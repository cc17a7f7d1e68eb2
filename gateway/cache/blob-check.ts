// Re-hashing stored blobs against their digests: one loop for the background scrub (paced, beside
// clients) and for `wharf cache verify` (as fast as the disk goes, with a progress bar), so both
// judge the same way and quarantine the same way (blob-quarantine.ts via ContentCache.quarantine).
import { createReadStream } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { digestHasher, parseDigest } from "../oci/digest.ts";
import type { ContentCache } from "./content-cache.ts";

export interface CheckResult {
  checked: number;
  bytes: number;
  quarantined: string[];
}

export interface StoredBlob {
  digest: string;
  path: string;
  size: number;
}

export interface CheckOptions {
  /** Who found a mismatch, for the quarantine log line ("scrub", "cache verify"). */
  foundBy: string;
  signal?: AbortSignal;
  /** Most bytes read per second since the check began; default: no limit. */
  bytesPerSecond?: number;
  /** After each blob, judged or not (progress). */
  onBlob?: (b: StoredBlob) => void;
}

export async function checkStoredBlobs(
  cache: ContentCache,
  blobs: Iterable<StoredBlob> | AsyncIterable<StoredBlob>,
  opts: CheckOptions,
): Promise<CheckResult> {
  const result: CheckResult = { checked: 0, bytes: 0, quarantined: [] };
  const started = performance.now();
  const { signal, bytesPerSecond } = opts;
  for await (const b of blobs) {
    if (signal?.aborted) break;
    // a fill still being committed is checked by the fill itself
    const ok = cache.fills.has(b.digest) ? undefined : await matches(b, result, started, opts);
    if (ok !== undefined) result.checked++;
    if (ok === false) {
      await cache.quarantine(b.digest, opts.foundBy);
      result.quarantined.push(b.digest);
    }
    opts.onBlob?.(b);
  }
  return result;

  /** true or false; undefined when there is nothing to judge (evicted meanwhile, unknown algorithm, stopped). */
  async function matches(b: StoredBlob, r: CheckResult, t0: number, o: CheckOptions) {
    try {
      const d = parseDigest(b.digest);
      const hash = digestHasher(d);
      for await (const chunk of createReadStream(b.path, { highWaterMark: 1024 * 1024, signal: o.signal })) {
        hash.update(chunk as Buffer);
        r.bytes += (chunk as Buffer).length;
        if (!bytesPerSecond) continue;
        // pace: never ahead of bytesPerSecond since the check began
        const due = (r.bytes / bytesPerSecond) * 1000 - (performance.now() - t0);
        if (due > 0) await sleep(due, undefined, { signal });
      }
      return `${d.algorithm}:${hash.digest("hex")}` === b.digest;
    } catch {
      return undefined;
    }
  }
}
