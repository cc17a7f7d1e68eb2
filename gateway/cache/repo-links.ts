// Which repository may serve which blob, as distribution's linked blob store decides: a blob (or a
// manifest by digest) is served under <registry>/<repository> only if a manifest of that repository
// references it, or the upstream served it under that repository. Links are written when a manifest
// is served (every reference, at once, not throttled) and read on every blob request, through an
// in-memory set of recent answers so that the hot path costs no database read.
import { referencedDigests } from "../registry/hosted/manifest-check.ts";
import type { MetadataDb } from "./metadata-db.ts";

const MAX_ENTRIES = 100_000;

export class RepoLinks {
  readonly #db: Pick<MetadataDb, "linkRepoBlobs" | "hasRepoBlob">;
  readonly #now: () => number;
  /** registry\0repository\0digest known linked; insertion order gives the oldest first. */
  readonly #known = new Set<string>();

  constructor(db: Pick<MetadataDb, "linkRepoBlobs" | "hasRepoBlob">, now: () => number = Date.now) {
    this.#db = db;
    this.#now = now;
  }

  /** Records the manifest `digest` and everything its `body` references as linked to the repository. */
  linkManifest(registry: string, repository: string, digest: string, body: Uint8Array): void {
    const key = `${registry}\0${repository}\0${digest}`;
    if (this.#known.has(key)) return;
    const refs = referencedDigests(body);
    const all = [digest, ...refs.blobs, ...refs.manifests];
    this.#db.linkRepoBlobs(registry, repository, all, this.#now());
    for (const d of all) this.#remember(`${registry}\0${repository}\0${d}`);
  }

  link(registry: string, repository: string, digest: string): void {
    const key = `${registry}\0${repository}\0${digest}`;
    if (this.#known.has(key)) return;
    this.#db.linkRepoBlobs(registry, repository, [digest], this.#now());
    this.#remember(key);
  }

  isLinked(registry: string, repository: string, digest: string): boolean {
    const key = `${registry}\0${repository}\0${digest}`;
    if (this.#known.has(key)) return true;
    if (!this.#db.hasRepoBlob(registry, repository, digest)) return false;
    this.#remember(key);
    return true;
  }

  #remember(key: string): void {
    if (this.#known.size >= MAX_ENTRIES) {
      const oldest = this.#known.values().next().value;
      if (oldest !== undefined) this.#known.delete(oldest);
    }
    this.#known.add(key);
  }
}
