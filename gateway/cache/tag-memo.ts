// The tag records read from the metadata database, kept in memory: a pull by tag reads its record
// on every request, and the SELECT was the largest single cost of a cached manifest hit. Writes
// through this process drop the record; a commit by another process (`wharf cache`, `wharf
// mirror` beside a running server) changes SQLite's `PRAGMA data_version` on this connection
// (sqlite.org/pragma.html#pragma_data_version), which drops them all. The version is read at most
// once per RECHECK_MS: a request is answered as of that moment, as if it had come up to that much
// earlier. Each read costs system calls (two stat, four fcntl locks), 10-30 µs here: once per
// millisecond that was 1-3 % of a core at any rate above 1,000 requests/s, nearly all of a lookup.
import type { StatementSync } from "node:sqlite";

/** Enough for every tag a busy gateway serves; past that the memo starts over. */
const MAX_ENTRIES = 10_000;
const RECHECK_MS = 20;

export class TagMemo<T> {
  readonly #records = new Map<string, T | null>();
  #version: unknown;
  #checkedAt = Number.NEGATIVE_INFINITY;
  readonly #dataVersion: () => StatementSync;

  /** `dataVersion`: a prepared `PRAGMA data_version` of the connection the records come from. */
  constructor(dataVersion: () => StatementSync) {
    this.#dataVersion = dataVersion;
  }

  static key(registry: string, repository: string, tag: string): string {
    return `${registry}\0${repository}\0${tag}`;
  }

  /** The record (null: known absent), undefined when it must be read from the database. */
  get(key: string): T | null | undefined {
    const now = performance.now();
    if (now - this.#checkedAt >= RECHECK_MS) {
      this.#checkedAt = now;
      const v = (this.#dataVersion().get() as { data_version?: unknown } | undefined)?.data_version;
      if (v !== this.#version) {
        this.#version = v;
        this.#records.clear();
      }
    }
    return this.#records.get(key);
  }

  set(key: string, record: T | null): void {
    if (this.#records.size >= MAX_ENTRIES) this.#records.clear();
    this.#records.set(key, record);
  }

  delete(key: string): void {
    this.#records.delete(key);
  }

  clear(): void {
    this.#records.clear();
    this.#checkedAt = Number.NEGATIVE_INFINITY;
  }
}
