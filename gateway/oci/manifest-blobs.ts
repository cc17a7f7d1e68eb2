// The blobs an image manifest refers to (OCI image spec, "Image Manifest"; Docker image manifest v2
// schema 2): its config and its layers, in the order clients fetch them. Indexes and manifest lists
// name other manifests, not blobs, and yield nothing. Layers that live outside the registry
// (Docker "foreign" layers, OCI non-distributable layers, anything with `urls`) are left out.
import { type Digest, parseDigest } from "./digest.ts";
import { DOCKER_MANIFEST, OCI_MANIFEST } from "./media-types.ts";

interface Descriptor {
  mediaType?: unknown;
  digest?: unknown;
  size?: unknown;
  urls?: unknown;
}

export interface BlobRef {
  kind: "config" | "layer";
  digest: Digest;
  /** The size the manifest declares (untrusted: only a hint for scheduling). */
  size: number | undefined;
}

function fetchable(d: Descriptor): boolean {
  const type = typeof d.mediaType === "string" ? d.mediaType : "";
  if (type.includes("foreign") || type.includes("nondistributable")) return false;
  return !(Array.isArray(d.urls) && d.urls.length > 0);
}

/** Config then layers of an image manifest; [] for other types or a body that does not parse. */
export function manifestBlobs(mediaType: string, body: Uint8Array): BlobRef[] {
  if (mediaType !== OCI_MANIFEST && mediaType !== DOCKER_MANIFEST) return [];
  let doc: { config?: Descriptor; layers?: unknown };
  try {
    doc = JSON.parse(Buffer.from(body).toString("utf8")) as typeof doc;
  } catch {
    return [];
  }
  const layers = Array.isArray(doc.layers) ? (doc.layers as Descriptor[]) : [];
  const descriptors: [BlobRef["kind"], Descriptor | undefined][] = [
    ["config", doc.config],
    ...layers.map((l): [BlobRef["kind"], Descriptor] => ["layer", l]),
  ];
  const out: BlobRef[] = [];
  const seen = new Set<string>();
  for (const [kind, d] of descriptors) {
    if (!d || typeof d !== "object" || typeof d.digest !== "string" || !fetchable(d)) continue;
    try {
      const digest = parseDigest(d.digest);
      if (seen.has(digest.value)) continue;
      seen.add(digest.value);
      const size =
        typeof d.size === "number" && Number.isSafeInteger(d.size) && d.size >= 0 ? d.size : undefined;
      out.push({ kind, digest, size });
    } catch {
      // a malformed digest in a manifest is the client's problem when it asks for it, not ours
    }
  }
  return out;
}
