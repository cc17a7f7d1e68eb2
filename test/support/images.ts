// Access to the test images built by images.sh (via global-setup.ts): the layout path for skopeo
// (`oci:<layout>:<tag>`), and the digests a tag stands for, read from the layout itself so that
// tests assert against the same bytes that were pushed.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { inject } from "vitest";

export type ImageTag = "busybox" | "multi" | "big";

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string; variant?: string };
  annotations?: Record<string, string>;
}

export interface ImageDigests {
  manifest: string;
  mediaType: string;
  size: number;
  config: string;
  layers: string[];
  /** Sizes of the layers, same order as `layers`. */
  layerSizes: number[];
  /** "linux/amd64", "linux/arm64/v8"; set for the children of an index. */
  platform?: string;
}

export interface TagDigests {
  manifest: string;
  mediaType: string;
  size: number;
  /** null for an index. */
  config: string | null;
  layers: string[];
  layerSizes: number[];
  /** The platform images of an index (empty for a plain image). */
  manifests: ImageDigests[];
}

const INDEX_TYPES = new Set([
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
]);

/** Path of the OCI image layout (tags busybox, multi, big). */
export function imageLayout(): string {
  let dir: string | undefined;
  try {
    dir = inject("imagesDir");
  } catch {
    // outside a vitest worker
  }
  dir ??= process.env.WHARF_TEST_IMAGES;
  if (!dir) throw new Error("test images unknown: run through vitest (globalSetup) or set WHARF_TEST_IMAGES");
  return dir;
}

export function blobPath(digest: string, layout = imageLayout()): string {
  const [alg, hex] = digest.split(":");
  if (alg !== "sha256" || !hex || !/^[0-9a-f]{64}$/.test(hex)) throw new Error(`bad digest ${digest}`);
  return join(layout, "blobs", alg, hex);
}

export function readBlob(digest: string, layout = imageLayout()): Buffer {
  return readFileSync(blobPath(digest, layout));
}

function readJson<T>(digest: string, layout: string): T {
  return JSON.parse(readBlob(digest, layout).toString("utf8")) as T;
}

function platformOf(d: Descriptor): string | undefined {
  const p = d.platform;
  return p ? [p.os, p.architecture, p.variant].filter(Boolean).join("/") : undefined;
}

function imageDigests(d: Descriptor, layout: string): ImageDigests {
  const m = readJson<{ config: Descriptor; layers: Descriptor[] }>(d.digest, layout);
  const platform = platformOf(d);
  return {
    manifest: d.digest,
    mediaType: d.mediaType,
    size: d.size,
    config: m.config.digest,
    layers: m.layers.map((l) => l.digest),
    layerSizes: m.layers.map((l) => l.size),
    ...(platform ? { platform } : {}),
  };
}

/** Digests of a tag in the layout: its manifest, config and layers; an index lists its images. */
export function readManifestDigests(tag: ImageTag | string, layout = imageLayout()): TagDigests {
  const index = JSON.parse(readFileSync(join(layout, "index.json"), "utf8")) as { manifests: Descriptor[] };
  const top = index.manifests.find((d) => d.annotations?.["org.opencontainers.image.ref.name"] === tag);
  if (!top) throw new Error(`tag ${tag} not in ${layout}`);
  if (INDEX_TYPES.has(top.mediaType)) {
    const children = readJson<{ manifests: Descriptor[] }>(top.digest, layout).manifests;
    const base = { manifest: top.digest, mediaType: top.mediaType, size: top.size };
    return {
      ...base,
      config: null,
      layers: [],
      layerSizes: [],
      manifests: children.map((c) => imageDigests(c, layout)),
    };
  }
  const image = imageDigests(top, layout);
  return { ...image, manifests: [] };
}
