// Prepared statements on the cache's SQLite connection, for the stores that keep their own tables
// there (hosted registries, the mirror, robot tokens). The connection is asked for on every use:
// MetadataDb swaps it when an in-memory index (made on a full disk) is written back, and the
// statements prepared on the old one are dropped then.
import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { MetadataDb } from "./metadata-db.ts";

export class PreparedStatements {
  readonly #meta: Pick<MetadataDb, "connection">;
  #preparedOn: DatabaseSync | undefined;
  readonly #statements = new Map<string, StatementSync>();

  constructor(meta: Pick<MetadataDb, "connection">) {
    this.#meta = meta;
  }

  get db(): DatabaseSync {
    return this.#meta.connection;
  }

  get(sql: string): StatementSync {
    const db = this.db;
    if (this.#preparedOn !== db) {
      this.#statements.clear();
      this.#preparedOn = db;
    }
    let s = this.#statements.get(sql);
    if (!s) {
      s = db.prepare(sql);
      this.#statements.set(sql, s);
    }
    return s;
  }

  /** Runs `fn` (synchronous: no await inside) holding SQLite's write lock from the start. */
  immediate<T>(fn: () => T): T {
    const db = this.db;
    db.exec("BEGIN IMMEDIATE");
    try {
      const r = fn();
      db.exec("COMMIT");
      return r;
    } catch (e) {
      db.exec("ROLLBACK");
      throw e;
    }
  }
}
