// Registry API paths (OCI distribution spec, "Endpoints" table), checked without decoding them:
// percent-encoding, "..", empty segments and backslashes are refused before anything routes or
// looks at the disk. The routes themselves are hono patterns (registry-app.ts); endpointOf only
// tells a known endpoint asked with the wrong method (405) from a path that is none (404).
import { WharfError } from "../../common/errors.ts";

export type V2Endpoint = "base" | "manifest" | "blob" | "upload" | "tags" | "referrers" | "catalog";

const MAX_PATH = 2048;
const HOSTILE = /[%\\]|\/\/|(^|\/)\.\.?(\/|$)/;

/** Throws NAME_INVALID for a raw /v2/ path that must not reach routing. */
export function assertSafeV2Path(rawPath: string): void {
  if (rawPath.length > MAX_PATH || HOSTILE.test(rawPath))
    throw new WharfError("NAME_INVALID", "invalid repository path");
}

const SHAPES: [RegExp, V2Endpoint][] = [
  [/^\/v2\/?$/, "base"],
  [/^\/v2\/_catalog$/, "catalog"],
  [/^\/v2\/.+\/manifests\/[^/]+$/, "manifest"],
  [/^\/v2\/.+\/blobs\/uploads\/[^/]*$/, "upload"],
  [/^\/v2\/.+\/blobs\/[^/]+$/, "blob"],
  [/^\/v2\/.+\/tags\/list$/, "tags"],
  [/^\/v2\/.+\/referrers\/[^/]+$/, "referrers"],
];

/** Which endpoint a (safe) path names, whatever the method; undefined for none. */
export function endpointOf(rawPath: string): V2Endpoint | undefined {
  for (const [re, kind] of SHAPES) if (re.test(rawPath)) return kind;
  return undefined;
}
