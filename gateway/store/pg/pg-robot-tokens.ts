// Robot tokens of a replica set, in PostgreSQL: a token created with `wharf token create` beside
// any replica works on all of them, and a revocation holds on all of them from the next request,
// because every authentication reads the table (no cache between a request and the row). Only the
// SHA-256 of the secret is stored (robot-tokens.ts says why that is enough).
// Two answers are kept in memory for the synchronous questions the HTTP layer asks: the last
// liveness check of each id (asked again later in the same request, after it authenticated) and
// whether any token is live (does `/v2/` ask for a login), refreshed in the background.
import type pg from "pg";
import { WharfError } from "../../../common/errors.ts";
import {
  checkRobotToken,
  matchRobotToken,
  newRobotSecret,
  parseRobotToken,
  type RobotScope,
  type RobotToken,
  type RobotTokenStore,
} from "../../access/robot-tokens.ts";
import { storeUnavailable } from "./pg-transaction.ts";

/** How old `any`'s answer may get before a request refreshes it in the background. */
const ANY_REFRESH_MS = 5_000;
/** How long the last liveness answer stands for the synchronous check of the same request. */
const KNOWN_MS = 30_000;

interface Row {
  id: string;
  name: string;
  secret_sha256: string;
  scopes: RobotScope[];
  created_at: string;
  expires_at: string | null;
}

const fromRow = (r: Row): RobotToken & { secretSha256: string } => ({
  id: r.id,
  name: r.name,
  scopes: r.scopes,
  createdAt: Number(r.created_at),
  expiresAt: r.expires_at === null ? null : Number(r.expires_at),
  secretSha256: r.secret_sha256,
});

const publicOf = ({ secretSha256: _, ...t }: RobotToken & { secretSha256: string }): RobotToken => t;

export class PgRobotTokens implements RobotTokenStore {
  readonly #pool: pg.Pool;
  readonly #known = new Map<string, { token: RobotToken | undefined; at: number }>();
  #any: { value: boolean; at: number } = { value: false, at: 0 };
  #refreshing = false;

  private constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  /** Opens the store with `any` already known. */
  static async open(pool: pg.Pool, now = Date.now()): Promise<PgRobotTokens> {
    const t = new PgRobotTokens(pool);
    await t.#refreshAny(now);
    return t;
  }

  async #query(text: string, values: unknown[]): Promise<pg.QueryResult<Row>> {
    return this.#pool.query<Row>(text, values).catch(storeUnavailable);
  }

  async create(opts: { name: string; scopes: RobotScope[]; expiresAt: number | null; now: number }) {
    checkRobotToken(opts);
    const { id, secretSha256, text } = newRobotSecret();
    const r = await this.#query(
      `INSERT INTO robot_tokens (id, name, secret_sha256, scopes, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING`,
      [id, opts.name, secretSha256, JSON.stringify(opts.scopes), opts.now, opts.expiresAt],
    );
    if ((r.rowCount ?? 0) === 0)
      throw new WharfError("CONFIG_INVALID", `a token named ${opts.name} exists (revoke it first)`);
    return text;
  }

  async list(): Promise<RobotToken[]> {
    return (await this.#query("SELECT * FROM robot_tokens ORDER BY name", [])).rows.map((r) =>
      publicOf(fromRow(r)),
    );
  }

  async revoke(name: string): Promise<boolean> {
    const r = await this.#query("DELETE FROM robot_tokens WHERE name = $1", [name]);
    return (r.rowCount ?? 0) > 0;
  }

  async verify(text: string, name: string | undefined, now: number): Promise<RobotToken | undefined> {
    const given = parseRobotToken(text);
    if (!given) return undefined;
    const row = (await this.#query("SELECT * FROM robot_tokens WHERE id = $1", [given.id])).rows[0];
    const token = row && fromRow(row);
    const ok = token && matchRobotToken(token, given.secretSha256, name, now) ? publicOf(token) : undefined;
    if (ok) this.#known.set(ok.id, { token: ok, at: now });
    return ok;
  }

  async live(id: string, now: number): Promise<RobotToken | undefined> {
    const row = (await this.#query("SELECT * FROM robot_tokens WHERE id = $1", [id])).rows[0];
    const token = row && publicOf(fromRow(row));
    const ok = token && (token.expiresAt === null || token.expiresAt > now) ? token : undefined;
    this.#known.set(id, { token: ok, at: now });
    this.#prune(now);
    return ok;
  }

  liveKnown(id: string, now: number): RobotToken | undefined {
    const k = this.#known.get(id);
    if (!k || now - k.at > KNOWN_MS) return undefined;
    const t = k.token;
    return t && (t.expiresAt === null || t.expiresAt > now) ? t : undefined;
  }

  any(now: number): boolean {
    if (now - this.#any.at > ANY_REFRESH_MS && !this.#refreshing) {
      this.#refreshing = true;
      this.#refreshAny(now)
        .catch(() => {}) // the database is down: keep the last answer
        .finally(() => {
          this.#refreshing = false;
        });
    }
    return this.#any.value;
  }

  async #refreshAny(now: number): Promise<void> {
    const r = await this.#query(
      "SELECT 1 AS id FROM robot_tokens WHERE expires_at IS NULL OR expires_at > $1 LIMIT 1",
      [now],
    );
    this.#any = { value: r.rows.length > 0, at: now };
  }

  #prune(now: number): void {
    if (this.#known.size < 1000) return;
    for (const [id, k] of this.#known) if (now - k.at > KNOWN_MS) this.#known.delete(id);
  }
}
