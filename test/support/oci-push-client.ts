// A scripted registry client for the push API (OCI distribution spec, "Push"), over fetch: the
// tests that need control no real client gives (a chunk out of order, a kill in the middle of a
// PATCH, a gc between the blobs and the manifest). Basic credentials; wharf accepts them beside
// the token flow. Every request has a timeout: a test never hangs on a dead server.
import { createHash, randomBytes } from "node:crypto";

export interface OciReply {
  status: number;
  headers: Headers;
  body: string;
  /** The first OCI error code of the body, if it is one. */
  code?: string;
}

export interface TestImage {
  config: Buffer;
  layer: Buffer;
  manifest: Buffer;
  digests: { config: string; layer: string; manifest: string };
}

export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

export function sha256(data: Buffer): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

/** A small image with random (hence unique) content: one layer of `layerBytes` bytes. */
export function makeTestImage(layerBytes = 64 * 1024): TestImage {
  const layer = randomBytes(layerBytes);
  const config = Buffer.from(
    JSON.stringify({
      architecture: "amd64",
      os: "linux",
      rootfs: { type: "layers", diff_ids: [sha256(layer)] },
      config: { Cmd: ["/bin/sh"] },
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: {
        mediaType: "application/vnd.oci.image.config.v1+json",
        digest: sha256(config),
        size: config.length,
      },
      layers: [
        { mediaType: "application/vnd.oci.image.layer.v1.tar", digest: sha256(layer), size: layer.length },
      ],
    }),
  );
  return {
    config,
    layer,
    manifest,
    digests: { config: sha256(config), layer: sha256(layer), manifest: sha256(manifest) },
  };
}

export interface PushClientOptions {
  /** e.g. http://127.1.2.3:5000/v2/registry.internal (a hosted registry's path prefix). */
  base: string;
  /** "user:password" for Basic; none: anonymous. */
  creds?: string;
  timeoutMs?: number;
}

export class OciPushClient {
  readonly base: string;
  readonly #auth: string | undefined;
  readonly #timeoutMs: number;

  constructor(o: PushClientOptions) {
    this.base = o.base.replace(/\/$/, "");
    this.#auth = o.creds ? `Basic ${Buffer.from(o.creds).toString("base64")}` : undefined;
    this.#timeoutMs = o.timeoutMs ?? 30_000;
  }

  /** Absolute URL of a path under the base, or of a Location header (absolute or root-relative). */
  url(path: string): string {
    if (/^https?:\/\//.test(path)) return path;
    if (path.startsWith("/")) return new URL(path, this.base).href;
    return `${this.base}/${path}`;
  }

  async request(
    method: string,
    path: string,
    o: {
      body?: Buffer | ReadableStream<Uint8Array>;
      headers?: Record<string, string>;
      auth?: string | null;
    } = {},
  ): Promise<OciReply> {
    const headers: Record<string, string> = { ...o.headers };
    const auth = o.auth === undefined ? this.#auth : (o.auth ?? undefined);
    if (auth) headers.authorization = auth;
    const init: RequestInit & { duplex?: "half" } = {
      method,
      headers,
      signal: AbortSignal.timeout(this.#timeoutMs),
    };
    if (o.body !== undefined) {
      init.body = o.body as RequestInit["body"];
      if (!(o.body instanceof Buffer)) init.duplex = "half";
    }
    const res = await fetch(this.url(path), init);
    const body = await res.text();
    let code: string | undefined;
    try {
      code = (JSON.parse(body) as { errors?: { code?: string }[] }).errors?.[0]?.code;
    } catch {
      // not JSON: HEAD, empty replies
    }
    return { status: res.status, headers: res.headers, body, ...(code ? { code } : {}) };
  }

  /** POST an upload session; returns its Location. */
  async startUpload(repo: string): Promise<string> {
    const r = await this.request("POST", `${repo}/blobs/uploads/`);
    if (r.status !== 202) throw new Error(`POST ${repo}/blobs/uploads/: ${r.status} ${r.body}`);
    const location = r.headers.get("location");
    if (!location) throw new Error("202 without Location");
    return location;
  }

  /** One PATCH chunk at `start` (Content-Range), returning the reply (Location moves on). */
  patch(location: string, chunk: Buffer, start: number): Promise<OciReply> {
    return this.request("PATCH", location, {
      body: chunk,
      headers: {
        "content-type": "application/octet-stream",
        "content-range": `${start}-${start + chunk.length - 1}`,
        "content-length": String(chunk.length),
      },
    });
  }

  finish(location: string, digest: string, rest?: Buffer): Promise<OciReply> {
    const sep = location.includes("?") ? "&" : "?";
    const headers: Record<string, string> = { "content-type": "application/octet-stream" };
    headers["content-length"] = String(rest?.length ?? 0);
    return this.request("PUT", `${location}${sep}digest=${encodeURIComponent(digest)}`, {
      ...(rest ? { body: rest } : {}),
      headers,
    });
  }

  /** A chunked upload (POST, PATCH per chunk, PUT); throws unless every step succeeds. */
  async pushBlob(repo: string, data: Buffer, chunkSize = 1024 * 1024): Promise<string> {
    let location = await this.startUpload(repo);
    for (let start = 0; start < data.length; start += chunkSize) {
      const r = await this.patch(location, data.subarray(start, start + chunkSize), start);
      if (r.status !== 202) throw new Error(`PATCH at ${start}: ${r.status} ${r.body}`);
      location = r.headers.get("location") ?? location;
    }
    const digest = sha256(data);
    const done = await this.finish(location, digest);
    if (done.status !== 201) throw new Error(`PUT ${digest}: ${done.status} ${done.body}`);
    return digest;
  }

  putManifest(repo: string, ref: string, body: Buffer, mediaType = OCI_MANIFEST): Promise<OciReply> {
    return this.request("PUT", `${repo}/manifests/${ref}`, { body, headers: { "content-type": mediaType } });
  }

  /** Pushes layer, config and manifest (tagged `tag`); throws on any failure. */
  async pushImage(repo: string, image: TestImage, tag: string): Promise<string> {
    await this.pushBlob(repo, image.layer);
    await this.pushBlob(repo, image.config);
    const r = await this.putManifest(repo, tag, image.manifest);
    if (r.status !== 201) throw new Error(`PUT manifest ${tag}: ${r.status} ${r.body}`);
    return r.headers.get("docker-content-digest") ?? "";
  }

  async tags(repo: string): Promise<string[]> {
    const r = await this.request("GET", `${repo}/tags/list`);
    if (r.status === 404) return [];
    if (r.status !== 200) throw new Error(`tags/list ${repo}: ${r.status} ${r.body}`);
    return (JSON.parse(r.body) as { tags?: string[] | null }).tags ?? [];
  }
}
