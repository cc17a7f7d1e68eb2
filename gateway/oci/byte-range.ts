// The `Range` request header (RFC 9110 14.1.1, 14.2), parsed without knowing the content's size,
// then resolved against it. Only one byte range is served: a server may ignore a Range header
// (14.2), and must ignore one whose unit it does not know, so an unknown unit, a list of ranges
// or a malformed specifier means "send the whole body" (200), never an error. Only a well-formed
// single byte range that lies beyond the content gets 416 (15.5.17).

import { WharfError } from "../../common/errors.ts";
import type { ByteRange, RangeRequest } from "../registry/registry.ts";

/** Longer headers are not ranges anyone sends: ignored, and never run through a regex. */
const MAX_HEADER = 256;

/** `bytes=first-[last]` or `bytes=-suffix`, the unit case-insensitive (14.1). */
const SINGLE_RANGE = /^bytes=(?:(\d+)-(\d*)|-(\d+))$/i;

/** Digits as a number; past 2^53 the exact value no longer matters (no content is that long). */
function position(digits: string): number {
  return Math.min(Number(digits), Number.MAX_SAFE_INTEGER);
}

/**
 * The single byte range a `Range` header asks for, or undefined when the header is absent or is
 * to be ignored (unknown unit, several ranges, malformed, last before first).
 */
export function parseRangeHeader(header: string | undefined): RangeRequest | undefined {
  if (header === undefined || header.length > MAX_HEADER) return undefined;
  const m = SINGLE_RANGE.exec(header.trim());
  if (!m) return undefined;
  const [, first, last, suffix] = m;
  if (suffix !== undefined) return { kind: "suffix", length: position(suffix) };
  const start = position(first as string);
  if (!last) return { kind: "from", start };
  const end = position(last);
  // "last-pos ... less than first-pos" makes the specifier invalid (14.1.1): ignored, like garbage
  if (end < start) return undefined;
  return { kind: "from", start, end };
}

/**
 * The inclusive bytes of a `size`-byte content that `req` selects; throws RANGE_INVALID (416,
 * with `Content-Range: bytes *\/size` as 14.4 asks) when none of them exist.
 */
export function resolveRange(req: RangeRequest, size: number): ByteRange {
  const unsatisfiable = () =>
    new WharfError("RANGE_INVALID", `range not satisfiable for ${size} bytes`, {
      headers: { "content-range": `bytes */${size}` },
    });
  if (req.kind === "suffix") {
    // a suffix of length 0, or any range of empty content, selects nothing (14.1.1)
    if (req.length === 0 || size === 0) throw unsatisfiable();
    return { start: Math.max(0, size - req.length), end: size - 1 };
  }
  if (req.start >= size) throw unsatisfiable();
  return { start: req.start, end: Math.min(req.end ?? size - 1, size - 1) };
}

/** The `Content-Range` value of a 206 (14.4). */
export function contentRange(r: ByteRange, size: number): string {
  return `bytes ${r.start}-${r.end}/${size}`;
}
