// Parses the path of a registry API request (OCI distribution spec, "Endpoints" table) without
// decoding it: percent-encoding, "..", empty segments and backslashes are refused before
// anything looks at the disk.
import { WharfError } from "../errors.ts";

export type V2Route =
  | { kind: "base" }
  | { kind: "manifest"; name: string; reference: string }
  | { kind: "blob"; name: string; digest: string }
  | { kind: "tags"; name: string }
  | { kind: "upload"; name: string }
  | { kind: "catalog" };

const MAX_PATH = 2048;

export function parseV2Path(rawPath: string): V2Route | undefined {
  if (rawPath === "/v2" || rawPath === "/v2/") return { kind: "base" };
  if (!rawPath.startsWith("/v2/")) return undefined;
  if (
    rawPath.length > MAX_PATH ||
    /[%\\]/.test(rawPath) ||
    /(^|\/)\.\.?(\/|$)/.test(rawPath) ||
    rawPath.includes("//")
  ) {
    throw new WharfError("NAME_INVALID", "invalid repository path");
  }
  const rest = rawPath.slice(4);
  if (rest === "_catalog") return { kind: "catalog" };
  let m = /^(.+)\/manifests\/([^/]+)$/.exec(rest);
  if (m) return { kind: "manifest", name: m[1] as string, reference: m[2] as string };
  m = /^(.+)\/blobs\/uploads(\/[^/]*)?$/.exec(rest);
  if (m) return { kind: "upload", name: m[1] as string };
  m = /^(.+)\/blobs\/([^/]+)$/.exec(rest);
  if (m) return { kind: "blob", name: m[1] as string, digest: m[2] as string };
  m = /^(.+)\/tags\/list$/.exec(rest);
  if (m) return { kind: "tags", name: m[1] as string };
  return undefined;
}
