// Robot tokens: named, scoped credentials for CI (`wharf token create --name ci-bot --scope
// ghcr.io/acme/*:pull`). The token is `wharf_<id>_<secret>`, shown once; the database keeps the id
// and the SHA-256 of the secret. A random 256-bit secret needs no slow hash: nobody can guess it,
// and a table that leaked gives nothing to replay. Every check reads the table, so a revocation
// (from the CLI, another process) holds for the very next request. A replica set keeps them in
// PostgreSQL instead (store/pg/pg-robot-tokens.ts), behind the same RobotTokenStore interface.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { WharfError } from "../../common/errors.ts";
import type { MetadataDb } from "../cache/metadata-db.ts";
import { PreparedStatements } from "../cache/prepared-statements.ts";
import type { Action } from "./authenticator.ts";

/** `<registry glob>/<repository glob>:<actions>`: what a robot token may ever do (rules may narrow it). */
export interface RobotScope {
  registry: string;
  repository: string;
  actions: Action[];
}

export interface RobotToken {
  id: string;
  name: string;
  scopes: RobotScope[];
  createdAt: number;
  /** null: does not expire. */
  expiresAt: number | null;
}

const ACTIONS: readonly Action[] = ["pull", "push", "delete"];
const TOKEN_RE = /^wharf_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** Parses `--scope` text: `ghcr.io/acme/*:pull,push` (globs as in access rules). Throws CONFIG_INVALID. */
export function parseRobotScope(text: string): RobotScope {
  const colon = text.lastIndexOf(":");
  const slash = text.indexOf("/");
  const actions = text.slice(colon + 1).split(",");
  if (colon < 0 || slash <= 0 || slash > colon || actions.some((a) => !ACTIONS.includes(a as Action)))
    throw new WharfError(
      "CONFIG_INVALID",
      `--scope "${text.slice(0, 200)}": expected <registry>/<repository-glob>:<pull|push|delete>[,…]`,
    );
  return {
    registry: text.slice(0, slash),
    repository: text.slice(slash + 1, colon),
    actions: ACTIONS.filter((a) => actions.includes(a)),
  };
}

export function formatRobotScope(s: RobotScope): string {
  return `${s.registry}/${s.repository}:${s.actions.join(",")}`;
}

export function sha256(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

type MaybePromise<T> = T | Promise<T>;

/**
 * Where robot tokens live: the cache's SQLite (RobotTokens, synchronous) or PostgreSQL in a
 * replica set (asynchronous). Callers await every answer but `liveKnown` and `any`.
 */
export interface RobotTokenStore {
  create(opts: {
    name: string;
    scopes: RobotScope[];
    expiresAt: number | null;
    now: number;
  }): MaybePromise<string>;
  list(): MaybePromise<RobotToken[]>;
  revoke(name: string): MaybePromise<boolean>;
  verify(text: string, name: string | undefined, now: number): MaybePromise<RobotToken | undefined>;
  live(id: string, now: number): MaybePromise<RobotToken | undefined>;
  /**
   * `live` without waiting, for synchronous decisions made after the same request's authentication
   * (which asked the store itself): the answer that check got.
   */
  liveKnown(id: string, now: number): RobotToken | undefined;
  /** True when at least one token is live (whether `/v2/` asks for a login). */
  any(now: number): boolean;
}

/** A name `wharf token create --name` accepts. Throws CONFIG_INVALID. */
export function checkRobotToken(opts: { name: string; scopes: RobotScope[] }): void {
  if (!/^[a-z0-9][a-z0-9._-]{0,63}$/.test(opts.name))
    throw new WharfError(
      "CONFIG_INVALID",
      "--name: lower-case letters, digits, '.', '_' or '-' (at most 64)",
    );
  if (opts.scopes.length === 0) throw new WharfError("CONFIG_INVALID", "give at least one --scope");
}

/** A new token: its id, secret and the text handed out once. */
export function newRobotSecret(): { id: string; secretSha256: string; text: string } {
  const id = randomBytes(8).toString("hex");
  const secret = randomBytes(32).toString("base64url");
  return { id, secretSha256: sha256(secret).toString("hex"), text: `wharf_${id}_${secret}` };
}

/** The id and the secret's SHA-256 a token text stands for, when it looks like one. */
export function parseRobotToken(text: string): { id: string; secretSha256: Buffer } | undefined {
  const m = TOKEN_RE.exec(text);
  return m ? { id: m[1] as string, secretSha256: sha256(m[2] as string) } : undefined;
}

/** Does the stored hash match, the name (when given) agree and the token live? */
export function matchRobotToken(
  token: RobotToken & { secretSha256: string },
  given: Buffer,
  name: string | undefined,
  now: number,
): boolean {
  const stored = Buffer.from(token.secretSha256, "hex");
  if (stored.length !== given.length || !timingSafeEqual(stored, given)) return false;
  if (name !== undefined && name !== token.name) return false;
  return token.expiresAt === null || token.expiresAt > now;
}

export class RobotTokens implements RobotTokenStore {
  readonly #sql: PreparedStatements;

  constructor(meta: Pick<MetadataDb, "connection">) {
    this.#sql = new PreparedStatements(meta);
  }

  /** Creates a token; returns the text to hand out (the only time it exists outside the client). */
  create(opts: { name: string; scopes: RobotScope[]; expiresAt: number | null; now: number }): string {
    checkRobotToken(opts);
    if (this.#sql.get("SELECT 1 FROM robot_tokens WHERE name = ?").get(opts.name) !== undefined)
      throw new WharfError("CONFIG_INVALID", `a token named ${opts.name} exists (revoke it first)`);
    const { id, secretSha256, text } = newRobotSecret();
    this.#sql
      .get(
        "INSERT INTO robot_tokens (id, name, secret_sha256, scopes, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
      )
      .run(id, opts.name, secretSha256, JSON.stringify(opts.scopes), opts.now, opts.expiresAt);
    return text;
  }

  list(): RobotToken[] {
    return (this.#sql.get("SELECT * FROM robot_tokens ORDER BY name").all() as unknown as Row[]).map(fromRow);
  }

  /** True when at least one token is live. */
  any(now: number): boolean {
    return (
      this.#sql
        .get("SELECT 1 FROM robot_tokens WHERE expires_at IS NULL OR expires_at > ? LIMIT 1")
        .get(now) !== undefined
    );
  }

  /** True when a token of that name existed. */
  revoke(name: string): boolean {
    return Number(this.#sql.get("DELETE FROM robot_tokens WHERE name = ?").run(name).changes) > 0;
  }

  /** The live token `text` stands for (and `name`, when the client gave one as its user name). */
  verify(text: string, name: string | undefined, now: number): RobotToken | undefined {
    const given = parseRobotToken(text);
    if (!given) return undefined;
    const row = this.#sql.get("SELECT * FROM robot_tokens WHERE id = ?").get(given.id) as Row | undefined;
    if (!row) return undefined;
    const token = fromRow(row);
    return matchRobotToken({ ...token, secretSha256: row.secret_sha256 }, given.secretSha256, name, now)
      ? token
      : undefined;
  }

  /** The token with this id if it still exists and has not expired (a wharf Bearer token names it). */
  live(id: string, now: number): RobotToken | undefined {
    const row = this.#sql.get("SELECT * FROM robot_tokens WHERE id = ?").get(id) as Row | undefined;
    const token = row && fromRow(row);
    return token && (token.expiresAt === null || token.expiresAt > now) ? token : undefined;
  }

  liveKnown(id: string, now: number): RobotToken | undefined {
    return this.live(id, now);
  }

  /** Looks like a robot token (so a Basic password is not also tried as an htpasswd password). */
  static looksLikeToken(text: string): boolean {
    return TOKEN_RE.test(text);
  }
}

interface Row {
  id: string;
  name: string;
  secret_sha256: string;
  scopes: string;
  created_at: number;
  expires_at: number | null;
}

function fromRow(r: Row): RobotToken {
  return {
    id: r.id,
    name: r.name,
    scopes: JSON.parse(r.scopes) as RobotScope[],
    createdAt: Number(r.created_at),
    expiresAt: r.expires_at === null ? null : Number(r.expires_at),
  };
}
