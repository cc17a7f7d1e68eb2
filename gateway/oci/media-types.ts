// Manifest media types and Accept negotiation (OCI distribution spec, "Pulling manifests"; Docker
// image manifest v2 schema 2).

export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
export const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
export const DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
export const DOCKER_MANIFEST_V1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/** What wharf asks upstream for: every manifest type, so one cached copy serves every client. */
export const UPSTREAM_MANIFEST_ACCEPT = [
  OCI_INDEX,
  OCI_MANIFEST,
  DOCKER_MANIFEST_LIST,
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_V1_SIGNED,
].join(", ");

/** Accept headers seen lately: a client sends the same one with every pull. */
const parsedAccept = new Map<string, string[]>();
const PARSED_ACCEPT_MAX = 64;

/** Media types listed in Accept header(s), lower-cased, parameters dropped (frozen: shared). */
export function parseAccept(header: string | string[] | undefined | null): string[] {
  if (typeof header !== "string") return parseAcceptValues(header ? header : []);
  const known = parsedAccept.get(header);
  if (known) return known;
  const parsed = parseAcceptValues([header]);
  Object.freeze(parsed);
  if (parsedAccept.size >= PARSED_ACCEPT_MAX) parsedAccept.clear();
  parsedAccept.set(header, parsed);
  return parsed;
}

function parseAcceptValues(values: string[]): string[] {
  return values
    .flatMap((h) => h.split(","))
    .map((t) => (t.split(";")[0] ?? "").trim().toLowerCase())
    .filter(Boolean);
}

/**
 * True when a manifest of `mediaType` may be sent to a client that sent `accept`. No Accept
 * header, or a wildcard, accepts anything (what distribution does for OCI and schema 2 types).
 */
export function acceptsManifest(accept: readonly string[], mediaType: string): boolean {
  if (accept.length === 0) return true;
  return accept.some((a) => a === mediaType || a === "*/*" || a === "application/*");
}

/** The media type declared inside a manifest body, when it has one. */
export function declaredMediaType(body: Uint8Array): string | undefined {
  try {
    const doc = JSON.parse(Buffer.from(body).toString("utf8")) as {
      mediaType?: unknown;
      schemaVersion?: unknown;
      manifests?: unknown;
    };
    if (typeof doc.mediaType === "string") return doc.mediaType;
    if (doc.schemaVersion === 2) return Array.isArray(doc.manifests) ? OCI_INDEX : OCI_MANIFEST;
    if (doc.schemaVersion === 1) return DOCKER_MANIFEST_V1_SIGNED;
  } catch {
    return undefined;
  }
  return undefined;
}
