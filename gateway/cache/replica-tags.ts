// One registry's proxied tags as a replica shares them (storage.postgres): the local SQLite copy
// answers the hot path; when it is missing or stale, the shared record may be newer (another
// replica just asked upstream), and what this replica learns from upstream is shared in turn. The
// shared store failing costs sharing, never a request: errors are logged and the local path goes on.
import type { Logger } from "../log.ts";
import type { SharedTags } from "../store/shared-tags-api.ts";
import type { MetadataDb, TagRecord } from "./metadata-db.ts";

export class ReplicaTags {
  readonly #registry: string;
  readonly #shared: SharedTags;
  readonly #db: Pick<MetadataDb, "putTag">;
  readonly #log: Logger;

  constructor(registry: string, shared: SharedTags, db: Pick<MetadataDb, "putTag">, log: Logger) {
    this.#registry = registry;
    this.#shared = shared;
    this.#db = db;
    this.#log = log;
  }

  /** The shared record when it was checked upstream later than `local` (or there is no local one). */
  async newer(repository: string, tag: string, local: TagRecord | undefined): Promise<TagRecord | undefined> {
    const rec = await this.#guard("read", () => this.#shared.get(this.#registry, repository, tag));
    if (!rec || (local && rec.checkedAt <= local.checkedAt)) return undefined;
    return rec;
  }

  /** Keeps `rec` (from newer()) as this replica's local copy. */
  adopt(rec: TagRecord): void {
    this.#db.putTag(rec);
  }

  share(rec: TagRecord): Promise<void> {
    return this.#guard("write", () => this.#shared.put(rec));
  }

  checked(repository: string, tag: string, digest: string, now: number): Promise<void> {
    return this.#guard("write", () => this.#shared.markChecked(this.#registry, repository, tag, digest, now));
  }

  forget(repository: string, tag: string): Promise<void> {
    return this.#guard("write", () => this.#shared.delete(this.#registry, repository, tag));
  }

  async #guard<T>(what: string, fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await fn();
    } catch (e) {
      this.#log.warn(
        { registry: this.#registry, err: (e as Error).message },
        `shared metadata unavailable: tag ${what} skipped`,
      );
      return undefined;
    }
  }
}
