// One registry's pull-through cache: decides hit / revalidate / fill / stale for manifests and
// blobs (distribution's proxy order: digests local-first, tags checked upstream once stale).
// Docker Hub counts manifest GETs, not HEADs, so stale tags are revalidated with HEAD and the body
// is fetched only when the digest changed.
import type { Readable } from "node:stream";
import type { RegistryConfig } from "../config/schema.ts";
import { WharfError } from "../errors.ts";
import { contentRange, parseRangeHeader, resolveRange } from "../http/range-header.ts";
import type { Logger } from "../log.ts";
import { type Digest, digestOf, parseDigest, sha256Digest } from "../oci/digest.ts";
import { type BlobRef, manifestBlobs } from "../oci/manifest-blobs.ts";
import { acceptsManifest, declaredMediaType, UPSTREAM_MANIFEST_ACCEPT } from "../oci/media-types.ts";
import type { Reference } from "../oci/reference.ts";
import type { ByteRange } from "../registry/registry.ts";
import type { UpstreamClient } from "../upstream/upstream-client.ts";
import { SMALL_BLOB_BYTES } from "./blob-fill.ts";
import type { ContentCache } from "./content-cache.ts";
import type { FileBody } from "./file-body.ts";
import { fillFileBody } from "./fill-body.ts";
import type { PrefetchQueue } from "./prefetch-queue.ts";
import type { RateLimits } from "./rate-limits.ts";
import { SingleFlight } from "./single-flight.ts";
import { TagPolicy } from "./tag-policy.ts";
import { isOutage, upstreamStatusError } from "./upstream-errors.ts";

export type Outcome = "hit" | "miss" | "revalidated" | "stale" | "coalesced" | "passthrough";

export interface Reply {
  status: number;
  headers: Record<string, string>;
  body?: Buffer | Readable | FileBody;
  outcome: Outcome;
  /** Bytes this reply sends that came from the cache rather than upstream. */
  digest?: string;
}

/** Layers of recently fetched image manifests remembered for prefetch (the oldest go first). */
const MAX_ARMED_LAYERS = 4096;
/** Blobs up to this size are prefetched as soon as their manifest is fetched... */
const PREFETCH_SMALL_BLOB = 1024 * 1024;
/** ...as long as they add up to no more than this per manifest. */
const PREFETCH_SMALL_TOTAL = 16 * 1024 * 1024;

/** Manifests larger than this are refused (distribution's limit is 4 MiB). */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

interface Found {
  manifest: StoredManifest;
  outcome: Outcome;
  warning?: string;
}

interface StoredManifest {
  digest: string;
  mediaType: string;
  body: Buffer;
}

export interface BackendDeps {
  name: string;
  config: RegistryConfig;
  globalOffline: boolean;
  rateLimitReserve: number;
  cache: ContentCache;
  upstream: UpstreamClient;
  rateLimits: RateLimits;
  log: Logger;
  /** Fetches the blobs of image manifests fetched from upstream ahead of the client (cache.prefetch). */
  prefetch?: PrefetchQueue;
  now?: () => number;
}

export class RegistryBackend {
  readonly name: string;
  readonly upstream: UpstreamClient;
  readonly policy: TagPolicy;
  readonly #d: BackendDeps;
  readonly #now: () => number;
  readonly #manifestFlights = new Map<string, Promise<StoredManifest>>();
  /** Upstream checks of stale tags in flight, by repository:tag (this backend is one registry). */
  readonly #revalidations = new SingleFlight<Found>();
  /** Layer digest -> the image it belongs to, for images fetched from upstream not yet pulled. */
  readonly #armed = new Map<string, { repository: string; blobs: BlobRef[] }>();

  constructor(deps: BackendDeps) {
    this.#d = deps;
    this.name = deps.name;
    this.upstream = deps.upstream;
    this.policy = new TagPolicy(deps.config);
    this.#now = deps.now ?? Date.now;
  }

  get offline(): boolean {
    return this.#d.globalOffline || this.#d.config.offline;
  }

  // ---- manifests -------------------------------------------------------------------------

  async manifest(
    repository: string,
    ref: Reference,
    opts: { head: boolean; accept: string[]; signal?: AbortSignal },
  ): Promise<Reply> {
    const found =
      ref.kind === "digest"
        ? await this.#manifestByDigest(repository, ref.digest)
        : await this.#manifestByTag(repository, ref.tag);
    const { manifest, outcome, warning } = found;
    if (!acceptsManifest(opts.accept, manifest.mediaType)) {
      throw new WharfError(
        "MANIFEST_UNKNOWN",
        `manifest is ${manifest.mediaType}, which the client's Accept header does not list`,
      );
    }
    this.#d.cache.noteRepoBlob(this.name, repository, manifest.digest);
    const headers: Record<string, string> = {
      "content-type": manifest.mediaType,
      "content-length": String(manifest.body.length),
      "docker-content-digest": manifest.digest,
      etag: `"${manifest.digest}"`,
    };
    if (warning) headers.warning = `110 wharf "${warning}"`;
    return {
      status: 200,
      headers,
      body: opts.head ? undefined : manifest.body,
      outcome,
      digest: manifest.digest,
    };
  }

  async #manifestByDigest(repository: string, d: Digest): Promise<Found> {
    const local = await this.#loadManifest(d);
    if (local) return { manifest: local, outcome: "hit" };
    if (this.offline)
      throw new WharfError("MANIFEST_UNKNOWN", `manifest not cached and ${this.name} is offline`);
    const joined = this.#manifestFlights.has(`${repository}@${d.value}`);
    const manifest = await this.#fetchManifest(repository, d.value, d);
    return { manifest, outcome: joined ? "coalesced" : "miss" };
  }

  async #manifestByTag(repository: string, tag: string): Promise<Found> {
    const db = this.#d.cache.db;
    const rec = db.getTag(this.name, repository, tag);
    const local = rec ? await this.#loadManifest(parseDigest(rec.digest), rec.mediaType) : undefined;
    const now = this.#now();
    if (rec && local) {
      if (this.offline || this.policy.isFresh(repository, rec.checkedAt, now))
        return { manifest: local, outcome: "hit" };
      if (this.#d.rateLimits.isLow(this.name, this.upstream.auth.username, this.#d.rateLimitReserve)) {
        return {
          manifest: local,
          outcome: "stale",
          warning: "served from cache: upstream pull allowance is nearly spent",
        };
      }
      // One upstream HEAD for every request that finds the tag stale while it runs: with tagTtl 0
      // a storm of pulls of one tag would otherwise send a storm of HEADs (and sqlite writes).
      return this.#revalidations.run(`${repository}:${tag}`, () =>
        this.#revalidate(repository, tag, rec.digest, local),
      ).result;
    }
    if (this.offline) throw new WharfError("MANIFEST_UNKNOWN", `tag not cached and ${this.name} is offline`);
    // An uncached tag is fetched with GET even when the client sent HEAD: clients follow a HEAD
    // with a GET by digest, which is then a hit, so upstream counts one pull either way, and the
    // tag is recorded for the next client.
    const joined = this.#manifestFlights.has(`${repository}@${tag}`);
    const manifest = await this.#fetchManifest(repository, tag, undefined);
    this.#recordTag(repository, tag, manifest);
    return { manifest, outcome: joined ? "coalesced" : "miss" };
  }

  /** Asks upstream whether a stale tag still points at `cached`; falls back to it in an outage. */
  async #revalidate(repository: string, tag: string, cached: string, local: StoredManifest): Promise<Found> {
    const db = this.#d.cache.db;
    try {
      const current = await this.#headDigest(repository, tag);
      if (current === cached) {
        db.markTagChecked(this.name, repository, tag, this.#now());
        return { manifest: local, outcome: "revalidated" };
      }
      const manifest = await this.#fetchManifest(
        repository,
        current ?? tag,
        current ? parseDigest(current) : undefined,
      );
      this.#recordTag(repository, tag, manifest);
      return { manifest, outcome: "miss" };
    } catch (e) {
      if (e instanceof WharfError && (e.code === "MANIFEST_UNKNOWN" || e.code === "NAME_UNKNOWN")) {
        db.deleteTag(this.name, repository, tag);
        throw e;
      }
      if (!isOutage(e)) throw e;
      this.#d.log.warn(
        { registry: this.name, repository, tag, err: (e as Error).message },
        "upstream failed; serving cached tag",
      );
      return { manifest: local, outcome: "stale", warning: `served from cache: ${(e as Error).message}` };
    }
  }

  #recordTag(repository: string, tag: string, m: StoredManifest): void {
    const now = this.#now();
    this.#d.cache.db.putTag({
      registry: this.name,
      repository,
      tag,
      digest: m.digest,
      mediaType: m.mediaType,
      size: m.body.length,
      fetchedAt: now,
      checkedAt: now,
    });
  }

  async #loadManifest(d: Digest, typeHint?: string): Promise<StoredManifest | undefined> {
    const m = await this.#d.cache.readManifest(d);
    if (!m) return undefined;
    return {
      digest: d.value,
      body: m.body,
      mediaType: m.mediaType ?? typeHint ?? declaredMediaType(m.body) ?? "application/octet-stream",
    };
  }

  /** HEAD manifests/<tag> upstream: the tag's current digest (undefined if not sent). */
  async #headDigest(repository: string, tag: string): Promise<string | undefined> {
    const res = await this.upstream.request("HEAD", `${repository}/manifests/${tag}`, {
      repository,
      headers: { accept: UPSTREAM_MANIFEST_ACCEPT },
    });
    if (res.status !== 200) throw await upstreamStatusError(res, "manifest", this.name);
    await res.body.dump();
    return res.headers["docker-content-digest"];
  }

  /** GET a manifest upstream (single flight per repository+reference), verify, store. */
  #fetchManifest(
    repository: string,
    reference: string,
    expected: Digest | undefined,
  ): Promise<StoredManifest> {
    const key = `${repository}@${reference}`;
    let flight = this.#manifestFlights.get(key);
    if (!flight) {
      flight = this.#doFetchManifest(repository, reference, expected).finally(() =>
        this.#manifestFlights.delete(key),
      );
      this.#manifestFlights.set(key, flight);
    }
    return flight;
  }

  async #doFetchManifest(
    repository: string,
    reference: string,
    expected: Digest | undefined,
  ): Promise<StoredManifest> {
    const res = await this.upstream.request("GET", `${repository}/manifests/${reference}`, {
      repository,
      headers: { accept: UPSTREAM_MANIFEST_ACCEPT },
    });
    if (res.status !== 200) throw await upstreamStatusError(res, "manifest", this.name);
    const declaredLength = Number(res.headers["content-length"] ?? 0);
    if (declaredLength > MAX_MANIFEST_BYTES) {
      res.body.destroy();
      throw new WharfError(
        "UPSTREAM_INVALID",
        `upstream manifest is larger than ${MAX_MANIFEST_BYTES} bytes`,
      );
    }
    const body = Buffer.from(await res.body.arrayBuffer());
    if (body.length > MAX_MANIFEST_BYTES)
      throw new WharfError(
        "UPSTREAM_INVALID",
        `upstream manifest is larger than ${MAX_MANIFEST_BYTES} bytes`,
      );
    const sent = res.headers["docker-content-digest"];
    const claimed = expected ?? (sent ? parseDigest(sent) : undefined);
    const actual = claimed ? digestOf(claimed, body) : sha256Digest(body);
    if (claimed && actual !== claimed.value) {
      throw new WharfError(
        "UPSTREAM_INVALID",
        `upstream manifest does not match its digest ${claimed.value}`,
      );
    }
    const digest = parseDigest(actual);
    const mediaType =
      (res.headers["content-type"]?.split(";")[0]?.trim() || declaredMediaType(body)) ??
      "application/octet-stream";
    this.#d.cache.putManifestSoon(digest, body, mediaType);
    this.#armPrefetch(repository, mediaType, body);
    return { digest: digest.value, mediaType, body };
  }

  /**
   * Prefetch, in two steps, for an image manifest just fetched from upstream. Its small blobs
   * (config, small layers: latency-bound, one upstream round trip each) are queued at once, at most
   * PREFETCH_SMALL_TOTAL of them. The large ones wait until a client asks for one of the image's
   * layers, which only a pull does: `docker manifest inspect`, `skopeo inspect` and update bots
   * read the manifest and the config, and must not make wharf download whole images.
   */
  #armPrefetch(repository: string, mediaType: string, body: Buffer): void {
    if (!this.#d.prefetch || this.#d.prefetch.concurrency <= 0 || this.offline) return;
    const blobs = manifestBlobs(mediaType, body);
    let smallBytes = 0;
    const small = blobs.filter((b) => {
      if (b.size === undefined || b.size > PREFETCH_SMALL_BLOB || smallBytes + b.size > PREFETCH_SMALL_TOTAL)
        return false;
      smallBytes += b.size;
      return true;
    });
    this.#prefetch(repository, small);
    if (small.length === blobs.length) return;
    const image = { repository, blobs };
    for (const layer of blobs) {
      if (layer.kind !== "layer") continue;
      this.#armed.delete(layer.digest.value);
      this.#armed.set(layer.digest.value, image);
    }
    for (const oldest of this.#armed.keys()) {
      if (this.#armed.size <= MAX_ARMED_LAYERS) break;
      this.#armed.delete(oldest);
    }
  }

  /**
   * A layer of an image fetched from upstream was asked for: a client is pulling it. All its blobs
   * go to the front of the queue in manifest order (the order clients fetch them); those already
   * stored or in flight are skipped when their turn comes.
   */
  #prefetchImageOf(d: Digest): void {
    const image = this.#armed.get(d.value);
    if (!image) return;
    for (const b of image.blobs)
      if (this.#armed.get(b.digest.value) === image) this.#armed.delete(b.digest.value);
    this.#prefetch(
      image.repository,
      image.blobs.filter((b) => b.digest.value !== d.value),
      true,
    );
  }

  /** Queues fills for `blobs` that are neither cached nor in flight when their turn comes. */
  #prefetch(repository: string, blobs: BlobRef[], first = false): void {
    const queue = this.#d.prefetch;
    if (!queue) return;
    const cache = this.#d.cache;
    const tasks = blobs.map(({ digest }) => async () => {
      if (cache.fills.has(digest.value) || (await cache.blobSize(digest)) !== undefined) return;
      const { fill, joined } = this.#fillBlob(repository, digest);
      if (!joined)
        this.#d.log.debug({ registry: this.name, repository, digest: digest.value }, "prefetching blob");
      // holds a prefetch slot until stored; a failure is logged by the cache, and a client
      // asking for the blob later starts a new fill
      await fill.done.catch(() => {});
    });
    queue.add(tasks, { first });
  }

  /** The running fill of `d`, or a new one from upstream (single flight, content-cache.ts). */
  #fillBlob(repository: string, d: Digest): ReturnType<ContentCache["fill"]> {
    return this.#d.cache.fill(d, async (signal) => {
      const res = await this.upstream.request("GET", `${repository}/blobs/${d.value}`, {
        repository,
        signal,
      });
      if (res.status !== 200) throw await upstreamStatusError(res, "blob", this.name);
      const len = res.headers["content-length"];
      return { body: res.body, size: len !== undefined && /^\d+$/.test(len) ? Number(len) : undefined };
    });
  }

  // ---- blobs ---------------------------------------------------------------------------

  async blob(
    repository: string,
    d: Digest,
    opts: { head: boolean; range: string | undefined },
  ): Promise<Reply> {
    const cache = this.#d.cache;
    const base = {
      "docker-content-digest": d.value,
      etag: `"${d.value}"`,
      "accept-ranges": "bytes",
      "content-type": "application/octet-stream",
    };
    const wanted = parseRangeHeader(opts.range);
    if (!opts.head) this.#prefetchImageOf(d);
    const size = await cache.blobSize(d);
    if (size !== undefined) {
      cache.noteRepoBlob(this.name, repository, d.value);
      if (opts.head)
        return {
          status: 200,
          headers: { ...base, "content-length": String(size) },
          outcome: "hit",
          digest: d.value,
        };
      const r = wanted && resolveRange(wanted, size);
      return {
        ...slice(base, size, r),
        body: cache.openBlob(d, size, r),
        outcome: "hit",
        digest: d.value,
      };
    }
    if (this.offline) throw new WharfError("BLOB_UNKNOWN", `blob not cached and ${this.name} is offline`);
    if (opts.head && !cache.fills.has(d.value)) {
      const res = await this.upstream.request("HEAD", `${repository}/blobs/${d.value}`, { repository });
      if (res.status !== 200) throw await upstreamStatusError(res, "blob", this.name);
      await res.body.dump();
      const len = res.headers["content-length"];
      return {
        status: 200,
        headers: { ...base, ...(len ? { "content-length": len } : {}) },
        outcome: "passthrough",
        digest: d.value,
      };
    }
    const { fill, joined } = this.#fillBlob(repository, d);
    await fill.started;
    if (fill.broken) throw fill.error;
    cache.noteRepoBlob(this.name, repository, d.value);
    const outcome: Outcome = joined ? "coalesced" : "miss";
    if (opts.head)
      return {
        status: 200,
        headers: { ...base, ...(fill.size !== undefined ? { "content-length": String(fill.size) } : {}) },
        outcome,
        digest: d.value,
      };
    // A slice is complete as soon as its own bytes arrived, long before the digest of the whole
    // blob can be checked: a client given those bytes would hold a finished, unverified download.
    // So a ranged request waits for the fill to be verified (bounded by the fill's timeout; the
    // fill goes on when the client leaves) and is then served from verified bytes only. A whole
    // body may follow the fill: its last byte is held back until the digest matched.
    if (wanted || (fill.size !== undefined && fill.size <= SMALL_BLOB_BYTES)) await fill.whenVerified();
    const total = fill.size;
    const r = wanted && total !== undefined ? resolveRange(wanted, total) : undefined;
    // small: answered from memory once verified (no file reads on the client's path)
    if (fill.bytes)
      return { ...slice(base, fill.bytes.length, r), body: sliceOf(fill.bytes, r), outcome, digest: d.value };
    if (total === undefined)
      // without a length from upstream the end is unknown: follow the fill as a stream
      return {
        status: 200,
        headers: base,
        body: cache.holdStream(d.value, fill.reader()),
        outcome,
        digest: d.value,
      };
    return {
      ...slice(base, total, r),
      body: fillFileBody(fill, r?.start ?? 0, r?.end ?? total - 1, cache.hold(d.value)),
      outcome,
      digest: d.value,
    };
  }

  // ---- tags list -------------------------------------------------------------------------

  async tagsList(repository: string, query: string): Promise<Reply> {
    if (this.offline) {
      const tags = this.#d.cache.db
        .listTags(this.name, repository)
        .filter((t) => t.repository === repository)
        .map((t) => t.tag);
      return {
        status: 200,
        headers: { "content-type": "application/json" },
        body: Buffer.from(JSON.stringify({ name: repository, tags })),
        outcome: "hit",
      };
    }
    const res = await this.upstream.request("GET", `${repository}/tags/list${query}`, { repository });
    if (res.status !== 200) throw await upstreamStatusError(res, "tags", this.name);
    const body = Buffer.from(await res.body.arrayBuffer());
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "content-length": String(body.length),
    };
    // Pagination links point at the upstream path; clients follow them against wharf unchanged.
    if (res.headers.link) headers.link = res.headers.link;
    return { status: 200, headers, body, outcome: "passthrough" };
  }
}

/** Status and headers for the whole of a `size`-byte blob (200) or the slice `r` of it (206). */
function slice(
  base: Record<string, string>,
  size: number,
  r: ByteRange | undefined,
): { status: number; headers: Record<string, string> } {
  if (!r) return { status: 200, headers: { ...base, "content-length": String(size) } };
  return {
    status: 206,
    headers: {
      ...base,
      "content-length": String(r.end - r.start + 1),
      "content-range": contentRange(r, size),
    },
  };
}

function sliceOf(bytes: Buffer, r: ByteRange | undefined): Buffer {
  return r ? bytes.subarray(r.start, r.end + 1) : bytes;
}
