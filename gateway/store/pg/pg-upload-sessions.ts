// Upload session rows of a replica set (tables in pg-hosted-schema.ts). The offset only moves by a
// conditional UPDATE (`WHERE "offset" = <the offset the chunk started at>`), in the transaction
// that records the chunk's pieces: of two chunks racing for one offset, on any replicas, exactly
// one is accepted and the other is answered 416 (OCI distribution spec, "Pushing a blob in chunks").
import type pg from "pg";
import { inTransaction, storeUnavailable } from "./pg-transaction.ts";

export interface UploadRow {
  id: string;
  registry: string;
  repository: string;
  offset: number;
  updatedAt: number;
  /** A replica is finishing the session (PUT) since then; chunks are refused meanwhile. */
  finishingAt: number | null;
}

export interface PieceRow {
  start: number;
  size: number;
  key: string;
}

interface Row {
  id: string;
  registry: string;
  repository: string;
  offset: string;
  updated_at: string;
  finishing_at: string | null;
}

const toRow = (r: Row): UploadRow => ({
  id: r.id,
  registry: r.registry,
  repository: r.repository,
  offset: Number(r.offset),
  updatedAt: Number(r.updated_at),
  finishingAt: r.finishing_at === null ? null : Number(r.finishing_at),
});

export class PgUploadSessions {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  #query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    values: unknown[] = [],
  ): Promise<pg.QueryResult<R>> {
    return this.#pool.query<R>(text, values).catch(storeUnavailable);
  }

  async create(id: string, registry: string, repository: string, now: number): Promise<void> {
    await this.#query(
      `INSERT INTO hosted_uploads (id, registry, repository, "offset", created_at, updated_at)
       VALUES ($1, $2, $3, 0, $4, $4)`,
      [id, registry, repository, now],
    );
  }

  async get(id: string): Promise<UploadRow | undefined> {
    const r = await this.#query<Row>("SELECT * FROM hosted_uploads WHERE id = $1", [id]);
    return r.rows[0] && toRow(r.rows[0]);
  }

  /** Accepts pieces written from `from` on; undefined when the offset moved (or a finish began). */
  async advance(id: string, from: number, pieces: PieceRow[], now: number): Promise<number | undefined> {
    const size = pieces.reduce((n, p) => n + p.size, 0);
    return inTransaction(this.#pool, async (c) => {
      const r = await c.query<{ offset: string }>(
        `UPDATE hosted_uploads SET "offset" = "offset" + $3, updated_at = $4
         WHERE id = $1 AND "offset" = $2 AND finishing_at IS NULL RETURNING "offset"`,
        [id, from, size, now],
      );
      if (r.rows.length === 0) return undefined;
      for (const p of pieces)
        await c.query("INSERT INTO hosted_upload_chunks (id, start, size, key) VALUES ($1, $2, $3, $4)", [
          id,
          p.start,
          p.size,
          p.key,
        ]);
      return Number(r.rows[0]?.offset);
    });
  }

  /**
   * Marks the session as being finished by this replica, if no other replica is finishing it
   * (or one began before `staleBefore` and is taken as dead); returns its pieces in order.
   */
  async claim(
    id: string,
    now: number,
    staleBefore: number,
  ): Promise<{ row: UploadRow; pieces: PieceRow[] } | undefined> {
    return inTransaction(this.#pool, async (c) => {
      const r = await c.query<Row>(
        `UPDATE hosted_uploads SET finishing_at = $2, updated_at = $2
         WHERE id = $1 AND (finishing_at IS NULL OR finishing_at < $3) RETURNING *`,
        [id, now, staleBefore],
      );
      const row = r.rows[0];
      if (!row) return undefined;
      const p = await c.query<{ start: string; size: string; key: string }>(
        "SELECT start, size, key FROM hosted_upload_chunks WHERE id = $1 ORDER BY start",
        [id],
      );
      return {
        row: toRow(row),
        pieces: p.rows.map((x) => ({ start: Number(x.start), size: Number(x.size), key: x.key })),
      };
    });
  }

  /** Gives a claimed session back (its finish failed for a reason the client can retry). */
  async unclaim(id: string): Promise<void> {
    await this.#query("UPDATE hosted_uploads SET finishing_at = NULL WHERE id = $1", [id]);
  }

  async remove(id: string): Promise<void> {
    await this.#query("DELETE FROM hosted_uploads WHERE id = $1", [id]);
  }

  /** Every session: id, registry and when a byte or a state change last reached it. */
  async all(): Promise<{ id: string; registry: string; updatedAt: number }[]> {
    const r = await this.#query<{ id: string; registry: string; updated_at: string }>(
      "SELECT id, registry, updated_at FROM hosted_uploads",
    );
    return r.rows.map((x) => ({ id: x.id, registry: x.registry, updatedAt: Number(x.updated_at) }));
  }
}
