// One registry's pull-through cache behind the Registry interface: decides hit / revalidate /
// fill / stale for manifests and blobs, in distribution's proxy order (digests local-first, tags
// checked upstream once stale: proxy-tags.ts), and returns content; http/ writes the replies.

import { WharfError } from "../../common/errors.ts";
import { SMALL_BLOB_BYTES } from "../cache/blob-fill.ts";
import type { ContentCache } from "../cache/content-cache.ts";
import { fillFileBody } from "../cache/fill-body.ts";
import { PrefetchPlanner } from "../cache/prefetch-planner.ts";
import type { PrefetchQueue } from "../cache/prefetch-queue.ts";
import type { RateLimits } from "../cache/rate-limits.ts";
import { RepoLinks } from "../cache/repo-links.ts";
import { SingleFlight } from "../cache/single-flight.ts";
import { TagPolicy } from "../cache/tag-policy.ts";
import type { RegistryConfig } from "../config/schema.ts";
import type { Logger } from "../log.ts";
import { resolveRange } from "../oci/byte-range.ts";
import { type Digest, parseDigest } from "../oci/digest.ts";
import { acceptsManifest, declaredMediaType } from "../oci/media-types.ts";
import type { Reference } from "../oci/reference.ts";
import type { SharedTags } from "../store/shared-tags-api.ts";
import {
  type RemoteManifest,
  type RemoteRegistry,
  RemoteRegistryClient,
} from "../upstream/remote-registry.ts";
import type { UpstreamClient } from "../upstream/upstream-client.ts";
import { type Found, ProxyTags, type TagOverride } from "./proxy-tags.ts";
import type { BlobContent, ManifestContent, Outcome, RangeRequest, Registry, TagPage } from "./registry.ts";

export interface ProxyRegistryDeps {
  name: string;
  config: RegistryConfig;
  globalOffline: boolean;
  rateLimitReserve: number;
  cache: ContentCache;
  /** The upstream's client: its breaker and URL are shown on the status page. */
  upstream: UpstreamClient;
  /** The upstream's distribution API; by default spoken through `upstream`. */
  remote?: RemoteRegistry;
  rateLimits: RateLimits;
  log: Logger;
  /** Fetches the blobs of image manifests fetched from upstream ahead of the client (cache.prefetch). */
  prefetch?: PrefetchQueue;
  /** The tags of every replica of the bucket (storage.postgres); none: this node's own only. */
  sharedTags?: SharedTags;
  now?: () => number;
}

/** Today's name of the deps, kept so callers written against the old backend still compile. */
export type BackendDeps = ProxyRegistryDeps;

export class ProxyRegistry implements Registry {
  readonly kind = "proxy" as const;
  readonly name: string;
  readonly upstream: UpstreamClient;
  readonly remote: RemoteRegistry;
  readonly policy: TagPolicy;
  readonly #d: ProxyRegistryDeps;
  readonly #now: () => number;
  /** Manifest GETs upstream in flight, by repository@reference. */
  readonly #manifestFlights = new SingleFlight<RemoteManifest>();
  readonly #prefetch: PrefetchPlanner | undefined;
  readonly #links: RepoLinks;
  readonly #tags: ProxyTags;

  /**
   * A digest that answers for `repository:tag` instead of upstream (the managed mirror's
   * serveUpstreamName: pins and rollbacks reach clients pulling the upstream name). Must be cheap:
   * it runs on every pull of a tag.
   */
  get tagOverride(): TagOverride | undefined {
    return this.#tags.override;
  }
  set tagOverride(fn: TagOverride | undefined) {
    this.#tags.override = fn;
  }

  constructor(deps: ProxyRegistryDeps) {
    this.#d = deps;
    this.name = deps.name;
    this.upstream = deps.upstream;
    this.remote = deps.remote ?? new RemoteRegistryClient(deps.upstream);
    this.policy = new TagPolicy(deps.config);
    this.#now = deps.now ?? Date.now;
    const cache = deps.cache;
    this.#tags = new ProxyTags({
      name: deps.name,
      db: cache.db,
      remote: this.remote,
      policy: this.policy,
      rateLimits: deps.rateLimits,
      rateLimitReserve: deps.rateLimitReserve,
      log: deps.log,
      sharedTags: deps.sharedTags,
      now: this.#now,
      isOffline: () => this.offline,
      loadManifest: (d, typeHint) => this.#loadManifest(d, typeHint),
      fetchManifest: (repository, reference, expected) =>
        this.#fetchManifest(repository, reference, expected),
    });
    this.#links = new RepoLinks(cache.db, this.#now);
    this.#prefetch =
      deps.prefetch &&
      new PrefetchPlanner({
        registry: deps.name,
        queue: deps.prefetch,
        log: deps.log,
        isCachedOrFilling: async (d) => cache.fills.has(d.value) || (await cache.blobSize(d)) !== undefined,
        fill: (repository, d) => this.#fillBlob(repository, d),
      });
  }

  get offline(): boolean {
    return this.#d.globalOffline || this.#d.config.offline;
  }

  // ---- manifests -------------------------------------------------------------------------

  async manifest(
    repository: string,
    ref: Reference,
    opts: { head: boolean; accept: string[] },
  ): Promise<ManifestContent> {
    const { manifest, outcome, warning } =
      ref.kind === "digest"
        ? await this.#manifestByDigest(repository, ref.digest)
        : await this.#tags.manifest(repository, ref.tag);
    if (!acceptsManifest(opts.accept, manifest.mediaType)) {
      throw new WharfError(
        "MANIFEST_UNKNOWN",
        `manifest is ${manifest.mediaType}, which the client's Accept header does not list`,
      );
    }
    this.#links.linkManifest(this.name, repository, manifest.digest, manifest.body);
    const content: ManifestContent = {
      digest: manifest.digest,
      mediaType: manifest.mediaType,
      size: manifest.body.length,
      outcome,
    };
    if (!opts.head) content.body = manifest.body;
    if (warning) content.warning = warning;
    return content;
  }

  async #manifestByDigest(repository: string, d: Digest): Promise<Found> {
    const local = await this.#loadManifest(d);
    if (local) {
      // cached for some repository: served under this one only if linked there, or upstream says so
      if (!this.#links.isLinked(this.name, repository, d.value)) {
        if (this.offline)
          throw new WharfError(
            "MANIFEST_UNKNOWN",
            `manifest not known in ${repository} and ${this.name} is offline`,
          );
        await this.remote.headManifest(repository, d.value);
      }
      return { manifest: local, outcome: "hit" };
    }
    if (this.offline)
      throw new WharfError("MANIFEST_UNKNOWN", `manifest not cached and ${this.name} is offline`);
    const { result, joined } = this.#fetchManifest(repository, d.value, d);
    return { manifest: await result, outcome: joined ? "coalesced" : "miss" };
  }

  async #loadManifest(d: Digest, typeHint?: string): Promise<RemoteManifest | undefined> {
    const m = await this.#d.cache.readManifest(d);
    if (!m) return undefined;
    return {
      digest: d.value,
      body: m.body,
      mediaType: m.mediaType ?? typeHint ?? declaredMediaType(m.body) ?? "application/octet-stream",
    };
  }

  /** GET a manifest upstream (single flight per repository+reference, verified there), then store it. */
  #fetchManifest(
    repository: string,
    reference: string,
    expected: Digest | undefined,
  ): { result: Promise<RemoteManifest>; joined: boolean } {
    return this.#manifestFlights.run(`${repository}@${reference}`, async () => {
      const m = await this.remote.getManifest(repository, reference, expected);
      this.upstream.health.fetched(m.body.length);
      const stored = this.#d.cache.putManifestSoon(parseDigest(m.digest), m.body, m.mediaType);
      this.#tags.storing(m.digest, stored);
      if (!this.offline) this.#prefetch?.manifestFetched(repository, m.mediaType, m.body);
      return m;
    });
  }

  /** The running fill of `d`, or a new one from upstream (single flight, content-cache.ts). */
  #fillBlob(repository: string, d: Digest): ReturnType<ContentCache["fill"]> {
    return this.#d.cache.fill(d, (signal) => this.remote.getBlob(repository, d, signal));
  }

  // ---- blobs ---------------------------------------------------------------------------

  async blob(
    repository: string,
    d: Digest,
    opts: { head: boolean; range?: RangeRequest },
  ): Promise<BlobContent> {
    const cache = this.#d.cache;
    const wanted = opts.range;
    if (!opts.head) this.#prefetch?.blobRequested(d);
    const size = await cache.blobSize(d);
    if (size !== undefined) {
      if (!this.#links.isLinked(this.name, repository, d.value)) {
        // cached for another repository: a client may still fetch a blob before any manifest
        // (skopeo copying by digest), so the upstream says whether this repository has it
        if (this.offline)
          throw new WharfError("BLOB_UNKNOWN", `blob not known in ${repository} and ${this.name} is offline`);
        await this.remote.headBlob(repository, d);
        this.#links.link(this.name, repository, d.value);
      }
      cache.noteRepoBlob(this.name, repository, d.value);
      if (opts.head) return { digest: d.value, size, outcome: "hit" };
      const r = wanted && resolveRange(wanted, size);
      return {
        digest: d.value,
        size,
        ...(r && { range: r }),
        body: cache.openBlob(d, size, r),
        outcome: "hit",
      };
    }
    if (this.offline) throw new WharfError("BLOB_UNKNOWN", `blob not cached and ${this.name} is offline`);
    if (opts.head && !cache.fills.has(d.value)) {
      // another replica stored it (storage.kind s3): answered from the shared store once linked
      const shared = this.#links.isLinked(this.name, repository, d.value)
        ? await cache.sharedSize(d)
        : undefined;
      if (shared !== undefined) return { digest: d.value, size: shared, outcome: "hit" };
      const { size } = await this.remote.headBlob(repository, d);
      return { digest: d.value, size, outcome: "passthrough" };
    }
    const { fill, joined } = this.#fillBlob(repository, d);
    await fill.started;
    if (fill.broken) throw fill.error;
    // a fill joined from another repository's request proves nothing about this one
    // nor do bytes from the shared store, which another replica fetched for any repository
    if ((joined || fill.fromShared) && !this.#links.isLinked(this.name, repository, d.value))
      await this.remote.headBlob(repository, d);
    this.#links.link(this.name, repository, d.value);
    cache.noteRepoBlob(this.name, repository, d.value);
    const outcome: Outcome = joined ? "coalesced" : "miss";
    if (opts.head) return { digest: d.value, size: fill.size, outcome };
    // A slice is complete as soon as its own bytes arrived, long before the digest of the whole
    // blob can be checked: a client given those bytes would hold a finished, unverified download.
    // So a ranged request waits for the fill to be verified (bounded by the fill's timeout; the
    // fill goes on when the client leaves) and is then served from verified bytes only. A whole
    // body may follow the fill: its last byte is held back until the digest matched.
    if (wanted || (fill.size !== undefined && fill.size <= SMALL_BLOB_BYTES)) await fill.whenVerified();
    const total = fill.size;
    const r = wanted && total !== undefined ? resolveRange(wanted, total) : undefined;
    const range = r && { range: r };
    // small: answered from memory once verified (no file reads on the client's path)
    if (fill.bytes) {
      const body = r ? fill.bytes.subarray(r.start, r.end + 1) : fill.bytes;
      return { digest: d.value, size: fill.bytes.length, ...range, body, outcome };
    }
    if (total === undefined)
      // without a length from upstream the end is unknown: follow the fill as a stream
      return { digest: d.value, size: undefined, body: cache.holdStream(d.value, fill.reader()), outcome };
    return {
      digest: d.value,
      size: total,
      ...range,
      body: fillFileBody(fill, r?.start ?? 0, r?.end ?? total - 1, cache.hold(d.value)),
      outcome,
    };
  }

  // ---- tags list -------------------------------------------------------------------------

  async tags(repository: string, page: { n?: number; last?: string }): Promise<TagPage> {
    if (this.offline) {
      const tags = this.#d.cache.db
        .listTags(this.name, repository)
        .filter((t) => t.repository === repository)
        .map((t) => t.tag);
      return { name: repository, tags, outcome: "hit" };
    }
    return { ...(await this.remote.tags(repository, page)), outcome: "passthrough" };
  }
}
