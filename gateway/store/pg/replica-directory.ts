// The replica directory (issue 18): each replica keeps a row in `replicas` with the addresses it
// answers DNS with and its health, rewritten every heartbeat. A row not rewritten for three
// heartbeats belongs to a replica that is gone (killed, partitioned); a clean stop deletes its row.
// Ages are measured on the database's clock, so replicas with skewed clocks still agree on them.
// The directory is advisory: status, metrics and DNS answers read it; nothing waits on it.
import type pg from "pg";
import type { Logger } from "../../log.ts";

/** Appended to pg-schema.ts's migrations: the parts of a replica's health, beside `healthy`. */
export const REPLICA_HEALTH_MIGRATION = `ALTER TABLE replicas ADD COLUMN health jsonb NOT NULL DEFAULT '{}'::jsonb;`;

export interface ReplicaHealth {
  /** The local disk takes writes (cache/store-health.ts). */
  store: boolean;
  /** The bucket answers; null without storage.kind s3. */
  bucket: boolean | null;
  /** The database answers. */
  database: boolean;
}

export interface ReplicaEntry {
  id: string;
  name: string;
  /** The addresses its DNS responder answers with (what clients should connect to). */
  addresses: string[];
  startedAt: number;
  /** Milliseconds since its last heartbeat, on the database's clock. */
  seenAgoMs: number;
  /** Its store, bucket and database all answered at its last heartbeat. */
  healthy: boolean;
  health: Partial<ReplicaHealth>;
  /** No heartbeat for the expiry (three heartbeats). */
  gone: boolean;
  self: boolean;
}

const DB_NOW = "(extract(epoch from clock_timestamp()) * 1000)::bigint";
/** Rows of replicas gone this long are deleted by whichever replica beats next. */
const FORGET_AFTER_MS = 60 * 60 * 1000;

export const isHealthy = (h: ReplicaHealth): boolean => h.store && h.bucket !== false && h.database;

export class ReplicaDirectory {
  readonly id: string;
  readonly name: string;
  readonly intervalMs: number;
  readonly #pool: pg.Pool;
  readonly #addresses: readonly string[];
  readonly #health: () => ReplicaHealth;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #startedAt: number;
  #timer: NodeJS.Timeout | undefined;
  #beating: Promise<void> | undefined;
  /** The last list read, and when (local clock) it was read. */
  #snapshot: { at: number; rows: ReplicaEntry[] } = { at: 0, rows: [] };
  #failing = false;
  #stopped = false;

  constructor(opts: {
    pool: pg.Pool;
    id: string;
    name: string;
    addresses: readonly string[];
    /** This replica's health now (read at every heartbeat). */
    health: () => ReplicaHealth;
    log: Logger;
    intervalMs?: number;
    now?: () => number;
  }) {
    this.#pool = opts.pool;
    this.id = opts.id;
    this.name = opts.name;
    this.#addresses = [...opts.addresses];
    this.#health = opts.health;
    this.#log = opts.log.child({ component: "replicas" });
    this.intervalMs = opts.intervalMs ?? 5_000;
    this.#now = opts.now ?? Date.now;
    this.#startedAt = this.#now();
  }

  /** Three heartbeats: a replica not seen for this long counts as gone. */
  get expiryMs(): number {
    return 3 * this.intervalMs;
  }

  /** Registers this replica (the first heartbeat), then beats every intervalMs. */
  async start(): Promise<void> {
    await this.beat();
    if (this.#stopped) return;
    this.#timer = setInterval(() => void this.beat(), this.intervalMs);
    this.#timer.unref();
  }

  /** Writes this replica's row and reads everyone's; a database error is logged, never thrown. */
  beat(): Promise<void> {
    this.#beating ??= this.#beat().finally(() => {
      this.#beating = undefined;
    });
    return this.#beating;
  }

  async #beat(): Promise<void> {
    const health = this.#health();
    try {
      await this.#query(
        `INSERT INTO replicas (id, name, addresses, started_at, seen_at, healthy, health)
         VALUES ($1, $2, $3, $4, ${DB_NOW}, $5, $6)
         ON CONFLICT (id) DO UPDATE SET name = $2, addresses = $3, seen_at = ${DB_NOW},
           healthy = $5, health = $6`,
        [
          this.id,
          this.name,
          JSON.stringify(this.#addresses),
          this.#startedAt,
          isHealthy(health),
          JSON.stringify(health),
        ],
      );
      await this.#query(`DELETE FROM replicas WHERE seen_at < ${DB_NOW} - $1`, [FORGET_AFTER_MS]);
      const { rows } = await this.#query<{
        id: string;
        name: string;
        addresses: string[];
        started_at: string;
        age: string;
        healthy: boolean;
        health: Partial<ReplicaHealth>;
      }>(
        `SELECT id, name, addresses, started_at, ${DB_NOW} - seen_at AS age, healthy, health
         FROM replicas ORDER BY name, id`,
        [],
      );
      this.#snapshot = {
        at: this.#now(),
        rows: rows.map((r) => ({
          id: r.id,
          name: r.name,
          addresses: Array.isArray(r.addresses) ? r.addresses.map(String) : [],
          startedAt: Number(r.started_at),
          seenAgoMs: Math.max(0, Number(r.age)),
          healthy: r.healthy,
          health: r.health ?? {},
          gone: false,
          self: r.id === this.id,
        })),
      };
      if (this.#failing) this.#log.info("replica directory: heartbeat written again");
      this.#failing = false;
    } catch (e) {
      if (!this.#failing)
        this.#log.warn({ err: (e as Error).message }, "replica directory: heartbeat failed; retrying");
      this.#failing = true;
    }
  }

  /**
   * A query that gives up after one heartbeat: a database that stopped answering (a partition)
   * must not hang the heartbeat; pg then discards the connection.
   */
  #query<R extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
    const config = { text, values, query_timeout: Math.max(1_000, this.intervalMs) };
    return this.#pool.query<R>(config as pg.QueryConfig);
  }

  /**
   * Every replica as of the last heartbeat, ages moved on by the time since it. When the database
   * has not answered for the expiry, the others' state is unknown: they are listed as gone, and
   * this replica as it sees itself now.
   */
  list(): ReplicaEntry[] {
    const now = this.#now();
    const elapsed = Math.max(0, now - (this.#snapshot.at || this.#startedAt));
    const stale = this.#snapshot.at === 0 || elapsed > this.expiryMs;
    const rows = this.#snapshot.rows.map((r) => {
      const seenAgoMs = r.self ? elapsed : r.seenAgoMs + elapsed;
      const entry = { ...r, seenAgoMs, gone: !r.self && (stale || seenAgoMs > this.expiryMs) };
      if (!r.self) return entry;
      const health = this.#health();
      return { ...entry, health, healthy: isHealthy(health), gone: false };
    });
    if (!rows.some((r) => r.self)) {
      const health = this.#health();
      rows.push({
        id: this.id,
        name: this.name,
        addresses: [...this.#addresses],
        startedAt: this.#startedAt,
        seenAgoMs: elapsed,
        healthy: isHealthy(health),
        health,
        gone: false,
        self: true,
      });
    }
    return rows;
  }

  /**
   * What DNS mode answers with: the addresses of every healthy replica; when none is healthy (the
   * bucket is down for all), of every replica still beating; at worst this replica's own.
   */
  answerAddresses(): string[] {
    const live = this.list().filter((r) => !r.gone && r.addresses.length > 0);
    const healthy = live.filter((r) => r.healthy);
    const chosen = healthy.length > 0 ? healthy : live;
    const out = chosen.length > 0 ? chosen.flatMap((r) => r.addresses) : [...this.#addresses];
    return [...new Set(out)];
  }

  /** Stops beating and deletes this replica's row (a clean stop; a crash leaves it to expire). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#beating;
    await this.#query("DELETE FROM replicas WHERE id = $1", [this.id]).catch((e: Error) => {
      this.#log.warn({ err: e.message }, "replica directory: could not remove this replica's row");
    });
  }
}
