// Which blobs to fetch ahead of the client, and when, for one registry (prefetch-queue.ts runs
// them). An image manifest fetched from upstream "arms" its layers; a client asking for one of
// them is pulling the image, and the rest of it is queued at once.
import type { Logger } from "../log.ts";
import type { Digest } from "../oci/digest.ts";
import { type BlobRef, manifestBlobs } from "../oci/manifest-blobs.ts";
import type { BlobFill } from "./blob-fill.ts";
import type { PrefetchQueue } from "./prefetch-queue.ts";

/** Layers of recently fetched image manifests remembered for prefetch (the oldest go first). */
const MAX_ARMED_LAYERS = 4096;
/** Blobs up to this size are prefetched as soon as their manifest is fetched... */
const PREFETCH_SMALL_BLOB = 1024 * 1024;
/** ...as long as they add up to no more than this per manifest. */
const PREFETCH_SMALL_TOTAL = 16 * 1024 * 1024;

export interface PrefetchPlannerDeps {
  registry: string;
  queue: PrefetchQueue;
  log: Logger;
  /** True when the blob is stored or being fetched: its turn in the queue is skipped. */
  isCachedOrFilling: (d: Digest) => Promise<boolean>;
  /** The running fill of `d` in `repository`, or a new one from upstream (single flight). */
  fill: (repository: string, d: Digest) => { fill: BlobFill; joined: boolean };
}

export class PrefetchPlanner {
  readonly #d: PrefetchPlannerDeps;
  /** Layer digest -> the image it belongs to, for images fetched from upstream not yet pulled. */
  readonly #armed = new Map<string, { repository: string; blobs: BlobRef[] }>();

  constructor(deps: PrefetchPlannerDeps) {
    this.#d = deps;
  }

  get enabled(): boolean {
    return this.#d.queue.concurrency > 0;
  }

  /**
   * Prefetch, in two steps, for an image manifest just fetched from upstream. Its small blobs
   * (config, small layers: latency-bound, one upstream round trip each) are queued at once, at most
   * PREFETCH_SMALL_TOTAL of them. The large ones wait until a client asks for one of the image's
   * layers, which only a pull does: `docker manifest inspect`, `skopeo inspect` and update bots
   * read the manifest and the config, and must not make wharf download whole images.
   */
  manifestFetched(repository: string, mediaType: string, body: Buffer): void {
    if (!this.enabled) return;
    const blobs = manifestBlobs(mediaType, body);
    let smallBytes = 0;
    const small = blobs.filter((b) => {
      if (b.size === undefined || b.size > PREFETCH_SMALL_BLOB || smallBytes + b.size > PREFETCH_SMALL_TOTAL)
        return false;
      smallBytes += b.size;
      return true;
    });
    this.#queue(repository, small);
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
   * A blob was asked for. If it is a layer of an image fetched from upstream, a client is pulling
   * that image: all its blobs go to the front of the queue in manifest order (the order clients
   * fetch them); those already stored or in flight are skipped when their turn comes.
   */
  blobRequested(d: Digest): void {
    const image = this.#armed.get(d.value);
    if (!image) return;
    for (const b of image.blobs)
      if (this.#armed.get(b.digest.value) === image) this.#armed.delete(b.digest.value);
    this.#queue(
      image.repository,
      image.blobs.filter((b) => b.digest.value !== d.value),
      true,
    );
  }

  /** Queues fills for `blobs` that are neither cached nor in flight when their turn comes. */
  #queue(repository: string, blobs: BlobRef[], first = false): void {
    const tasks = blobs.map(({ digest }) => async () => {
      if (await this.#d.isCachedOrFilling(digest)) return;
      const { fill, joined } = this.#d.fill(repository, digest);
      if (!joined)
        this.#d.log.debug(
          { registry: this.#d.registry, repository, digest: digest.value },
          "prefetching blob",
        );
      // holds a prefetch slot until stored; a failure is logged by the cache, and a client
      // asking for the blob later starts a new fill
      await fill.done.catch(() => {});
    });
    this.#d.queue.add(tasks, { first });
  }
}
