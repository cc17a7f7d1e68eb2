// The distribution API of one upstream registry, as the cache needs it (OCI distribution spec,
// "Pulling manifests", "Pulling blobs", "Listing tags"): answers are content, verified where the
// spec gives a digest; a status other than 200 becomes the WharfError the client should see.
// Authentication, redirects, the breaker and rate-limit accounting are UpstreamClient's job.
import type { Readable } from "node:stream";
import { WharfError } from "../../common/errors.ts";
import { type Digest, digestOf, parseDigest, sha256Digest } from "../oci/digest.ts";
import { declaredMediaType, UPSTREAM_MANIFEST_ACCEPT } from "../oci/media-types.ts";
import type { UpstreamClient } from "./upstream-client.ts";
import { upstreamStatusError } from "./upstream-errors.ts";

/** Manifests larger than this are refused (distribution's limit is 4 MiB). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export interface RemoteManifest {
  digest: string;
  mediaType: string;
  body: Buffer;
}

export interface RemoteBlob {
  body: Readable;
  /** Content-Length, when the upstream sent one. */
  size: number | undefined;
}

export interface RemoteTagPage {
  name: string;
  tags: string[];
  /** The upstream's RFC 8288 `Link` to the next page, unchanged. */
  link?: string;
}

/** What the proxy needs from an upstream; tests of the proxy's decisions may implement it in memory. */
export interface RemoteRegistry {
  /** The account the upstream counts pulls against (rate-limit lookups), undefined for anonymous. */
  readonly account: string | undefined;
  /** The digest a tag points at now (HEAD, no pull counted on Docker Hub); undefined if not sent. */
  headManifest(repository: string, tag: string): Promise<string | undefined>;
  /** A manifest, checked against `expected` (or the digest the upstream claims) and the size limit. */
  getManifest(repository: string, reference: string, expected?: Digest): Promise<RemoteManifest>;
  /** Opens a blob; the caller verifies the bytes as they stream (blob-fill.ts). */
  getBlob(repository: string, digest: Digest, signal: AbortSignal): Promise<RemoteBlob>;
  /** A blob's size without its bytes. */
  headBlob(repository: string, digest: Digest): Promise<{ size: number | undefined }>;
  tags(repository: string, page: { n?: number; last?: string }): Promise<RemoteTagPage>;
}

function lengthOf(header: string | undefined): number | undefined {
  return header !== undefined && /^\d+$/.test(header) ? Number(header) : undefined;
}

function tooLarge(): WharfError {
  return new WharfError("UPSTREAM_INVALID", `upstream manifest is larger than ${MAX_MANIFEST_BYTES} bytes`);
}

export class RemoteRegistryClient implements RemoteRegistry {
  readonly #client: UpstreamClient;

  constructor(client: UpstreamClient) {
    this.#client = client;
  }

  get account(): string | undefined {
    return this.#client.auth.username;
  }

  get #name(): string {
    return this.#client.registry;
  }

  async headManifest(repository: string, tag: string): Promise<string | undefined> {
    const res = await this.#client.request("HEAD", `${repository}/manifests/${tag}`, {
      repository,
      headers: { accept: UPSTREAM_MANIFEST_ACCEPT },
    });
    if (res.status !== 200) throw await upstreamStatusError(res, "manifest", this.#name);
    await res.body.dump();
    return res.headers["docker-content-digest"];
  }

  async getManifest(repository: string, reference: string, expected?: Digest): Promise<RemoteManifest> {
    const res = await this.#client.request("GET", `${repository}/manifests/${reference}`, {
      repository,
      headers: { accept: UPSTREAM_MANIFEST_ACCEPT },
    });
    if (res.status !== 200) throw await upstreamStatusError(res, "manifest", this.#name);
    if ((lengthOf(res.headers["content-length"]) ?? 0) > MAX_MANIFEST_BYTES) {
      res.body.destroy();
      throw tooLarge();
    }
    const body = Buffer.from(await res.body.arrayBuffer());
    if (body.length > MAX_MANIFEST_BYTES) throw tooLarge();
    // By digest the request names the digest; by tag the upstream's Docker-Content-Digest is
    // checked when sent, else the manifest is addressed by its sha256 ("Pulling manifests").
    const sent = res.headers["docker-content-digest"];
    const claimed = expected ?? (sent ? parseDigest(sent) : undefined);
    const actual = claimed ? digestOf(claimed, body) : sha256Digest(body);
    if (claimed && actual !== claimed.value)
      throw new WharfError(
        "UPSTREAM_INVALID",
        `upstream manifest does not match its digest ${claimed.value}`,
      );
    const mediaType =
      (res.headers["content-type"]?.split(";")[0]?.trim() || declaredMediaType(body)) ??
      "application/octet-stream";
    return { digest: actual, mediaType, body };
  }

  async getBlob(repository: string, digest: Digest, signal: AbortSignal): Promise<RemoteBlob> {
    const res = await this.#client.request("GET", `${repository}/blobs/${digest.value}`, {
      repository,
      signal,
    });
    if (res.status !== 200) throw await upstreamStatusError(res, "blob", this.#name);
    return { body: res.body, size: lengthOf(res.headers["content-length"]) };
  }

  async headBlob(repository: string, digest: Digest): Promise<{ size: number | undefined }> {
    const res = await this.#client.request("HEAD", `${repository}/blobs/${digest.value}`, { repository });
    if (res.status !== 200) throw await upstreamStatusError(res, "blob", this.#name);
    await res.body.dump();
    return { size: lengthOf(res.headers["content-length"]) };
  }

  async tags(repository: string, page: { n?: number; last?: string }): Promise<RemoteTagPage> {
    const q = new URLSearchParams();
    if (page.n !== undefined) q.set("n", String(page.n));
    if (page.last !== undefined) q.set("last", page.last);
    const qs = q.toString();
    const res = await this.#client.request("GET", `${repository}/tags/list${qs ? `?${qs}` : ""}`, {
      repository,
    });
    if (res.status !== 200) throw await upstreamStatusError(res, "tags", this.#name);
    let doc: { name?: unknown; tags?: unknown };
    try {
      doc = JSON.parse(await res.body.text()) as typeof doc;
    } catch {
      throw new WharfError("UPSTREAM_INVALID", `upstream ${this.#name} sent a tag list that is not JSON`);
    }
    const tags = Array.isArray(doc.tags) ? doc.tags.filter((t): t is string => typeof t === "string") : [];
    const out: RemoteTagPage = { name: typeof doc.name === "string" ? doc.name : repository, tags };
    // Pagination links point at the upstream path; clients follow them against wharf unchanged.
    if (res.headers.link) out.link = res.headers.link;
    return out;
  }
}
