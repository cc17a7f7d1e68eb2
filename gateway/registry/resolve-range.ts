// Resolves a client's byte range against the content's size (RFC 9110 14.1.2, 15.5.17): a range
// past the end is unsatisfiable (416 with `Content-Range: bytes */<size>`), an end past the last
// byte is clipped, a suffix longer than the content means all of it.
import { WharfError } from "../../common/errors.ts";
import type { ByteRange, RangeRequest } from "./registry.ts";

export function resolveRange(range: RangeRequest, size: number): ByteRange {
  let start: number;
  let end: number;
  if (range.kind === "suffix") {
    start = Math.max(0, size - range.length);
    end = size - 1;
  } else {
    start = range.start;
    end = range.end === undefined ? size - 1 : Math.min(range.end, size - 1);
  }
  if (start > end || start >= size || (range.kind === "suffix" && range.length === 0))
    throw new WharfError("RANGE_INVALID", "range not satisfiable", {
      detail: { size },
      headers: { "content-range": `bytes */${size}` },
    });
  return { start, end };
}
