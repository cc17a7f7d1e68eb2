// Shared by the hosted registry's tests and its crash-test child: a cache in a temp dir, pushing
// blobs and manifests through the HostedRegistry API, reading FileBody bodies back.
import { createHash } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { ContentCache } from "../../cache/content-cache.ts";
import type { FileBody } from "../../cache/file-body.ts";
import { MetadataDb } from "../../cache/metadata-db.ts";
import { silentLogger } from "../../log.ts";
import { type Digest, parseDigest } from "../../oci/digest.ts";
import { OCI_INDEX, OCI_MANIFEST } from "../../oci/media-types.ts";
import type { Body } from "../registry.ts";
import { type HostedConfig, HostedRegistry } from "./hosted-registry.ts";

export const REGISTRY = "registry.internal";

export async function openHosted(
  dataDir: string,
  opts: { config?: Partial<HostedConfig>; now?: () => number } = {},
): Promise<{ cache: ContentCache; db: MetadataDb; reg: HostedRegistry }> {
  await mkdir(dataDir, { recursive: true });
  const db = new MetadataDb(join(dataDir, "metadata.sqlite"));
  const cache = new ContentCache({ dataDir, db, log: silentLogger, fillTimeoutMs: 10_000, now: opts.now });
  await cache.store.init();
  const reg = new HostedRegistry({
    name: REGISTRY,
    config: { allowDelete: false, anonymousPull: true, uploadTtl: 3_600_000, ...opts.config },
    cache,
    log: silentLogger,
    now: opts.now,
  });
  return { cache, db, reg };
}

export function digestOfBytes(data: Uint8Array): Digest {
  return parseDigest(`sha256:${createHash("sha256").update(data).digest("hex")}`);
}

/** Monolithic push: start, then finish with all bytes. */
export async function pushBlob(reg: HostedRegistry, repository: string, data: Buffer): Promise<Digest> {
  const d = digestOfBytes(data);
  const u = await reg.startUpload(repository);
  await reg.finishUpload(repository, u.id, d, Readable.from([data]), { length: data.length });
  return d;
}

/** Chunked push with Content-Range on every chunk. */
export async function pushChunked(
  reg: HostedRegistry,
  repository: string,
  data: Buffer,
  chunkSize: number,
): Promise<Digest> {
  const d = digestOfBytes(data);
  const u = await reg.startUpload(repository);
  for (let at = 0; at < data.length; at += chunkSize) {
    const part = data.subarray(at, at + chunkSize);
    await reg.appendUpload(repository, u.id, Readable.from([part]), {
      start: at,
      end: at + part.length - 1,
      length: part.length,
    });
  }
  await reg.finishUpload(repository, u.id, d, undefined, {});
  return d;
}

export function imageManifest(
  config: Digest,
  layers: Digest[],
  extra: { subject?: { digest: string; size: number }; artifactType?: string; configType?: string } = {},
): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      ...(extra.artifactType ? { artifactType: extra.artifactType } : {}),
      config: {
        mediaType: extra.configType ?? "application/vnd.oci.image.config.v1+json",
        digest: config.value,
        size: 2,
      },
      layers: layers.map((l) => ({
        mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
        digest: l.value,
        size: 1,
      })),
      ...(extra.subject ? { subject: { mediaType: OCI_MANIFEST, ...extra.subject } } : {}),
      annotations: { "org.example.note": "test" },
    }),
  );
}

export function indexManifest(children: { digest: string; size: number }[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: children.map((c) => ({
        mediaType: OCI_MANIFEST,
        ...c,
        platform: { os: "linux", architecture: "amd64" },
      })),
    }),
  );
}

/** All bytes of a blob body (a FileBody from the store, or a Buffer). */
export async function readBody(body: Body | undefined): Promise<Buffer> {
  if (body === undefined) throw new Error("no body");
  if (Buffer.isBuffer(body)) return body;
  if ((body as FileBody).kind !== "file") {
    const parts: Buffer[] = [];
    for await (const c of body as Readable) parts.push(c as Buffer);
    return Buffer.concat(parts);
  }
  const fb = body as FileBody;
  const fh = await fb.open();
  try {
    const len = fb.end - fb.start + 1;
    const buf = Buffer.alloc(Math.max(0, len));
    if (len > 0) await fh.read(buf, 0, len, fb.start);
    return buf;
  } finally {
    await fh.close();
    fb.release();
  }
}
