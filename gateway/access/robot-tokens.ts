// Robot tokens: named, scoped credentials for CI (`wharf token create --name ci-bot --scope
// ghcr.io/acme/*:pull`). The token is `wharf_<id>_<secret>`, shown once; the database keeps the id
// and the SHA-256 of the secret. A random 256-bit secret needs no slow hash: nobody can guess it,
// and a table that leaked gives nothing to replay. Every check reads the table, so a revocation
// (from the CLI, another process) holds for the very next request.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { DatabaseSync, StatementSync } from "node:sqlite";
import { WharfError } from "../../common/errors.ts";
import type { MetadataDb } from "../cache/metadata-db.ts";
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

function sha256(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

export class RobotTokens {
  readonly #meta: Pick<MetadataDb, "connection">;
  #stmtsOf: DatabaseSync | undefined;
  readonly #stmts = new Map<string, StatementSync>();

  constructor(meta: Pick<MetadataDb, "connection">) {
    this.#meta = meta;
  }

  /** Asked each time: the cache swaps its connection when an in-memory index is persisted. */
  get #db(): DatabaseSync {
    return this.#meta.connection;
  }

  #stmt(sql: string): StatementSync {
    const db = this.#db;
    if (this.#stmtsOf !== db) {
      this.#stmts.clear();
      this.#stmtsOf = db;
    }
    let s = this.#stmts.get(sql);
    if (!s) {
      s = db.prepare(sql);
      this.#stmts.set(sql, s);
    }
    return s;
  }

  /** Creates a token; returns the text to hand out (the only time it exists outside the client). */
  create(opts: { name: string; scopes: RobotScope[]; expiresAt: number | null; now: number }): string {
    if (!/^[a-z0-9][a-z0-9._-]{0,63}$/.test(opts.name))
      throw new WharfError(
        "CONFIG_INVALID",
        "--name: lower-case letters, digits, '.', '_' or '-' (at most 64)",
      );
    if (opts.scopes.length === 0) throw new WharfError("CONFIG_INVALID", "give at least one --scope");
    if (this.#stmt("SELECT 1 FROM robot_tokens WHERE name = ?").get(opts.name) !== undefined)
      throw new WharfError("CONFIG_INVALID", `a token named ${opts.name} exists (revoke it first)`);
    const id = randomBytes(8).toString("hex");
    const secret = randomBytes(32).toString("base64url");
    this.#stmt(
      "INSERT INTO robot_tokens (id, name, secret_sha256, scopes, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
    ).run(
      id,
      opts.name,
      sha256(secret).toString("hex"),
      JSON.stringify(opts.scopes),
      opts.now,
      opts.expiresAt,
    );
    return `wharf_${id}_${secret}`;
  }

  list(): RobotToken[] {
    return (this.#stmt("SELECT * FROM robot_tokens ORDER BY name").all() as unknown as Row[]).map(fromRow);
  }

  /** True when a token of that name existed. */
  revoke(name: string): boolean {
    return Number(this.#stmt("DELETE FROM robot_tokens WHERE name = ?").run(name).changes) > 0;
  }

  /** The live token `text` stands for (and `name`, when the client gave one as its user name). */
  verify(text: string, name: string | undefined, now: number): RobotToken | undefined {
    const m = TOKEN_RE.exec(text);
    if (!m) return undefined;
    const row = this.#stmt("SELECT * FROM robot_tokens WHERE id = ?").get(m[1] as string) as Row | undefined;
    if (!row) return undefined;
    const stored = Buffer.from(row.secret_sha256, "hex");
    const given = sha256(m[2] as string);
    if (stored.length !== given.length || !timingSafeEqual(stored, given)) return undefined;
    const token = fromRow(row);
    if (name !== undefined && name !== token.name) return undefined;
    if (token.expiresAt !== null && token.expiresAt <= now) return undefined;
    return token;
  }

  /** The token with this id if it still exists and has not expired (a wharf Bearer token names it). */
  live(id: string, now: number): RobotToken | undefined {
    const row = this.#stmt("SELECT * FROM robot_tokens WHERE id = ?").get(id) as Row | undefined;
    const token = row && fromRow(row);
    return token && (token.expiresAt === null || token.expiresAt > now) ? token : undefined;
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
