// What a pushed manifest must be before a hosted registry stores it (OCI distribution spec,
// "Pushing Manifests"; OCI image spec, "Image Manifest" and "Image Index"; Docker image manifest
// v2 schema 2): JSON, a known media type that agrees with Content-Type and the body's own
// `mediaType`, and well-formed descriptors. Existence of what it names is checked by the caller.
import { WharfError } from "../../../common/errors.ts";
import { type Digest, parseDigest } from "../../oci/digest.ts";
import { DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST } from "../../oci/media-types.ts";

/** Clients must be able to push manifests of at least 4 MiB (spec, "Pushing Manifests"). */
export const MANIFEST_MAX_BYTES = 4 * 1024 * 1024;

const IMAGE_TYPES = new Set([OCI_MANIFEST, DOCKER_MANIFEST]);
const INDEX_TYPES = new Set([OCI_INDEX, DOCKER_MANIFEST_LIST]);

export interface CheckedManifest {
  mediaType: string;
  /** Config and layers: blobs that must be in the registry (urls/foreign layers excepted). */
  blobs: Digest[];
  /** Manifests an index lists. */
  children: Digest[];
  subject?: Digest;
  /** For the referrers API: artifactType, else the config's media type (image manifests). */
  artifactType?: string;
  annotations?: Record<string, string>;
}

interface Descriptor {
  mediaType?: unknown;
  digest?: unknown;
  urls?: unknown;
}

function invalid(message: string, detail?: unknown): WharfError {
  return new WharfError("MANIFEST_INVALID", message, { detail });
}

function descriptorDigest(d: unknown, where: string): Digest {
  const digest = (d as Descriptor | null)?.digest;
  if (typeof d !== "object" || d === null || typeof digest !== "string")
    throw invalid(`${where} is not a descriptor with a digest`);
  try {
    return parseDigest(digest);
  } catch {
    throw invalid(`${where} has an invalid digest`, { digest: digest.slice(0, 200) });
  }
}

/** Layers stored elsewhere (Docker foreign layers, OCI non-distributable, `urls`) are not pushed. */
function external(d: Descriptor): boolean {
  const type = typeof d.mediaType === "string" ? d.mediaType : "";
  if (type.includes("foreign") || type.includes("nondistributable")) return true;
  return Array.isArray(d.urls) && d.urls.length > 0;
}

function stringMap(v: unknown): Record<string, string> | undefined {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, s] of Object.entries(v)) if (typeof s === "string") out[k] = s;
  return out;
}

/** The media type named by a Content-Type header, without parameters. */
export function bareMediaType(contentType: string): string {
  return (contentType.split(";")[0] ?? "").trim().toLowerCase();
}

/** Validates a pushed manifest; throws MANIFEST_INVALID (or MANIFEST_TOO_LARGE). */
export function checkManifest(body: Buffer, contentType: string): CheckedManifest {
  if (body.length > MANIFEST_MAX_BYTES)
    throw new WharfError("MANIFEST_TOO_LARGE", `manifest exceeds ${MANIFEST_MAX_BYTES} bytes`, {
      detail: { size: body.length, limit: MANIFEST_MAX_BYTES },
    });
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(body.toString("utf8")) as Record<string, unknown>;
  } catch {
    throw invalid("manifest is not valid JSON");
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc))
    throw invalid("manifest is not an object");
  if (doc.schemaVersion !== 2) throw invalid("only schemaVersion 2 manifests are accepted");
  const declared = typeof doc.mediaType === "string" ? doc.mediaType : undefined;
  const header = bareMediaType(contentType);
  const mediaType = header || declared;
  if (!mediaType || !(IMAGE_TYPES.has(mediaType) || INDEX_TYPES.has(mediaType)))
    throw invalid("unsupported manifest media type", { mediaType: (mediaType ?? "").slice(0, 200) });
  // OCI image spec: `mediaType`, when present, must match the Content-Type it was pushed with.
  if (declared !== undefined && declared !== mediaType)
    throw invalid("Content-Type does not match the manifest's mediaType", { contentType: header, declared });
  const out: CheckedManifest = { mediaType, blobs: [], children: [] };
  if (doc.subject !== undefined) out.subject = descriptorDigest(doc.subject, "subject");
  const annotations = stringMap(doc.annotations);
  if (annotations) out.annotations = annotations;
  const artifactType = typeof doc.artifactType === "string" ? doc.artifactType : undefined;
  if (IMAGE_TYPES.has(mediaType)) {
    const config = doc.config as Descriptor | undefined;
    out.blobs.push(descriptorDigest(config, "config"));
    if (!Array.isArray(doc.layers)) throw invalid("image manifest has no layers array");
    doc.layers.forEach((l, i) => {
      const d = descriptorDigest(l, `layers[${i}]`);
      if (!external(l as Descriptor)) out.blobs.push(d);
    });
    // Referrers API: artifactType, else the config descriptor's mediaType.
    const configType = typeof config?.mediaType === "string" ? config.mediaType : undefined;
    const type = artifactType ?? configType;
    if (type !== undefined) out.artifactType = type;
  } else {
    if (!Array.isArray(doc.manifests)) throw invalid("index has no manifests array");
    doc.manifests.forEach((m, i) => {
      out.children.push(descriptorDigest(m, `manifests[${i}]`));
    });
    if (artifactType !== undefined) out.artifactType = artifactType;
  }
  return out;
}

/** Lenient reading for gc's mark phase: every digest a stored manifest names, never throws. */
export function referencedDigests(body: Uint8Array): { blobs: string[]; manifests: string[] } {
  const out = { blobs: [] as string[], manifests: [] as string[] };
  let doc: { config?: Descriptor; layers?: unknown; manifests?: unknown; subject?: Descriptor };
  try {
    doc = JSON.parse(Buffer.from(body).toString("utf8")) as typeof doc;
  } catch {
    return out;
  }
  const digestOf = (d: unknown) =>
    typeof d === "object" && d !== null && typeof (d as Descriptor).digest === "string"
      ? ((d as Descriptor).digest as string)
      : undefined;
  const config = digestOf(doc.config);
  if (config) out.blobs.push(config);
  if (Array.isArray(doc.layers))
    for (const l of doc.layers) if (digestOf(l)) out.blobs.push(digestOf(l) as string);
  if (Array.isArray(doc.manifests))
    for (const m of doc.manifests) if (digestOf(m)) out.manifests.push(digestOf(m) as string);
  const subject = digestOf(doc.subject);
  if (subject) out.manifests.push(subject);
  return out;
}
