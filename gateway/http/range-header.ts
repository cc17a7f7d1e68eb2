// The Range header's parsing lives with the other pure helpers (oci/byte-range.ts) so the cache
// layer can resolve ranges without importing from http/.
export { contentRange, parseRangeHeader, resolveRange } from "../oci/byte-range.ts";
