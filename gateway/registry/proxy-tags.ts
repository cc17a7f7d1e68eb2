// The tag half of a proxy registry: resolves `repository:tag` to a manifest, checking a stale tag
// upstream (remote-first once stale, the local copy as fallback, as distribution's proxy does) and
// sharing what it learns with the other replicas (storage.postgres). Docker Hub counts manifest
// GETs, not HEADs, so stale tags are revalidated with HEAD and the body is fetched only when the
// digest changed. ProxyRegistry owns one and lends it its manifest store and upstream fetches.

import { WharfError } from "../../common/errors.ts";
import type { MetadataDb, TagRecord } from "../cache/metadata-db.ts";
import type { RateLimits } from "../cache/rate-limits.ts";
import { ReplicaTags } from "../cache/replica-tags.ts";
import { SingleFlight } from "../cache/single-flight.ts";
import type { TagPolicy } from "../cache/tag-policy.ts";
import type { Logger } from "../log.ts";
import { type Digest, parseDigest } from "../oci/digest.ts";
import type { SharedTags } from "../store/shared-tags-api.ts";
import type { RemoteManifest, RemoteRegistry } from "../upstream/remote-registry.ts";
import { isOutage } from "../upstream/upstream-errors.ts";
import type { Outcome } from "./registry.ts";

export interface Found {
  manifest: RemoteManifest;
  outcome: Outcome;
  warning?: string;
}

/** A digest that answers for `repository:tag` instead of upstream (see ProxyRegistry.tagOverride). */
export type TagOverride = (
  repository: string,
  tag: string,
) => { digest: string; mediaType: string } | undefined;

export interface ProxyTagsDeps {
  name: string;
  db: MetadataDb;
  remote: RemoteRegistry;
  policy: TagPolicy;
  rateLimits: RateLimits;
  rateLimitReserve: number;
  log: Logger;
  sharedTags: SharedTags | undefined;
  now: () => number;
  isOffline: () => boolean;
  /** The cached manifest `d`, if any. */
  loadManifest: (d: Digest, typeHint?: string) => Promise<RemoteManifest | undefined>;
  /** GET a manifest upstream (single flight, stored on the way). */
  fetchManifest: (
    repository: string,
    reference: string,
    expected: Digest | undefined,
  ) => { result: Promise<RemoteManifest>; joined: boolean };
}

export class ProxyTags {
  readonly #d: ProxyTagsDeps;
  readonly #name: string;
  readonly #db: MetadataDb;
  readonly #now: () => number;
  /** Upstream checks of stale tags in flight, by repository:tag (this object is one registry). */
  readonly #revalidations = new SingleFlight<Found>();
  readonly #replicaTags: ReplicaTags | undefined;
  /** Manifests on their way into the (shared) store: a tag is shared only once its manifest is there. */
  readonly #storing = new Map<string, Promise<void>>();
  /** Reads of the shared record in flight, by repository:tag: concurrent stale requests ask once. */
  readonly #sharedReads = new SingleFlight<{ rec: TagRecord; local: RemoteManifest } | undefined>();
  /** Must be cheap: it runs on every pull of a tag. */
  override: TagOverride | undefined;

  constructor(deps: ProxyTagsDeps) {
    this.#d = deps;
    this.#name = deps.name;
    this.#db = deps.db;
    this.#now = deps.now;
    this.#replicaTags = deps.sharedTags && new ReplicaTags(deps.name, deps.sharedTags, deps.db, deps.log);
  }

  /** Notes a fetched manifest being stored, so that a tag pointing at it is shared only after. */
  storing(digest: string, stored: Promise<void>): void {
    if (!this.#replicaTags) return;
    this.#storing.set(digest, stored);
    void stored.then(() => this.#storing.delete(digest));
  }

  async manifest(repository: string, tag: string): Promise<Found> {
    const { policy, loadManifest } = this.#d;
    const override = this.override?.(repository, tag);
    if (override) {
      const m = await loadManifest(parseDigest(override.digest), override.mediaType);
      if (m) return { manifest: m, outcome: "hit" };
    }
    let rec = this.#db.getTag(this.#name, repository, tag);
    let local = rec ? await loadManifest(parseDigest(rec.digest), rec.mediaType) : undefined;
    if (
      this.#replicaTags &&
      !this.#d.isOffline() &&
      !(rec && local && policy.isFresh(repository, rec.checkedAt, this.#now()))
    ) {
      // missing or stale here: another replica may have asked upstream since
      const known = local && rec;
      const replicas = this.#replicaTags;
      const adopted = await this.#sharedReads.run(`${repository}:${tag}`, async () => {
        const shared = await replicas.newer(repository, tag, known);
        const m = shared && (await loadManifest(parseDigest(shared.digest), shared.mediaType));
        if (!shared || !m) return undefined;
        replicas.adopt(shared);
        return { rec: shared, local: m };
      }).result;
      if (adopted) ({ rec, local } = adopted);
    }
    if (rec && local) {
      if (this.#d.isOffline() || policy.isFresh(repository, rec.checkedAt, this.#now()))
        return { manifest: local, outcome: "hit" };
      if (this.#d.rateLimits.isLow(this.#name, this.#d.remote.account, this.#d.rateLimitReserve)) {
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
    if (this.#d.isOffline())
      throw new WharfError("MANIFEST_UNKNOWN", `tag not cached and ${this.#name} is offline`);
    // An uncached tag is fetched with GET even when the client sent HEAD: clients follow a HEAD
    // with a GET by digest, which is then a hit, so upstream counts one pull either way, and the
    // tag is recorded for the next client.
    const { result, joined } = this.#d.fetchManifest(repository, tag, undefined);
    const manifest = await result;
    await this.#recordTag(repository, tag, manifest);
    return { manifest, outcome: joined ? "coalesced" : "miss" };
  }

  /** Asks upstream whether a stale tag still points at `cached`; falls back to it in an outage. */
  async #revalidate(repository: string, tag: string, cached: string, local: RemoteManifest): Promise<Found> {
    const db = this.#db;
    try {
      const current = await this.#d.remote.headManifest(repository, tag);
      if (current === cached) {
        const now = this.#now();
        db.markTagChecked(this.#name, repository, tag, now);
        await this.#replicaTags?.checked(repository, tag, cached, now);
        return { manifest: local, outcome: "revalidated" };
      }
      const manifest = await this.#d.fetchManifest(
        repository,
        current ?? tag,
        current ? parseDigest(current) : undefined,
      ).result;
      await this.#recordTag(repository, tag, manifest);
      return { manifest, outcome: "miss" };
    } catch (e) {
      if (e instanceof WharfError && (e.code === "MANIFEST_UNKNOWN" || e.code === "NAME_UNKNOWN")) {
        db.deleteTag(this.#name, repository, tag);
        await this.#replicaTags?.forget(repository, tag);
        throw e;
      }
      if (!isOutage(e)) throw e;
      this.#d.log.warn(
        { registry: this.#name, repository, tag, err: (e as Error).message },
        "upstream failed; serving cached tag",
      );
      return { manifest: local, outcome: "stale", warning: `served from cache: ${(e as Error).message}` };
    }
  }

  async #recordTag(repository: string, tag: string, m: RemoteManifest): Promise<void> {
    const now = this.#now();
    const rec = {
      registry: this.#name,
      repository,
      tag,
      digest: m.digest,
      mediaType: m.mediaType,
      size: m.body.length,
      fetchedAt: now,
      checkedAt: now,
    };
    this.#db.putTag(rec);
    const replicas = this.#replicaTags;
    if (!replicas) return;
    const stored = this.#storing.get(m.digest);
    if (stored) void stored.then(() => replicas.share(rec));
    else await replicas.share(rec);
  }
}
