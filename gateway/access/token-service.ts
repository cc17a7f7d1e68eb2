// wharf's own registry tokens: short-lived JWTs in the shape of distribution's token spec
// (docs "spec/auth/jwt.md": claims iss, sub, aud, exp, nbf, iat, jti and
// access: [{type: "repository", name, actions}]). Only wharf issues and checks them, so they are
// signed with HS256 and a random key kept in dataDir (mode 0600, like the CA key), made on first start.
// A replica set (storage.postgres) passes the key it shares in PostgreSQL instead (pg-token-key.ts),
// so a token any replica issued verifies on all of them.
import { createSecretKey, type KeyObject, randomBytes, randomUUID } from "node:crypto";
import { chmod, link, mkdir, open, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { errors as joseErrors, jwtVerify, SignJWT } from "jose";
import { WharfError } from "../../common/errors.ts";
import type { Logger } from "../log.ts";
import type { Action, Identity, Scope } from "./authenticator.ts";

/** The key's file in dataDir. */
export const TOKEN_KEY_FILE = "token-signing.key";
/** `iss` of every token wharf issues. */
export const TOKEN_ISSUER = "wharf";
const ALG = "HS256";
const ACTIONS: readonly Action[] = ["pull", "push", "delete"];

export interface IssuedToken {
  token: string;
  /** Seconds. */
  expiresIn: number;
  issuedAt: Date;
}

export interface VerifiedToken {
  identity: Identity;
  /** The `service` (the host the client reached) the token was issued for: its `aud`. */
  service: string;
  access: Scope[];
  /** Names an upstream refused, with its answer. */
  refused: { name: string; status: number }[];
}

export interface TokenServiceOptions {
  dataDir: string;
  log: Logger;
  now?: () => number;
  /** Token lifetime. Default 300 s (distribution's default; clients fetch a new one on 401). */
  ttlSeconds?: number;
  /** The replica set's shared key: dataDir's key file is then neither read nor made. */
  key?: Buffer;
}

export class TokenService {
  readonly ttlSeconds: number;
  readonly #key: KeyObject;
  readonly #now: () => number;

  private constructor(key: KeyObject, opts: TokenServiceOptions) {
    this.#key = key;
    this.#now = opts.now ?? Date.now;
    this.ttlSeconds = opts.ttlSeconds ?? 300;
  }

  static async open(opts: TokenServiceOptions): Promise<TokenService> {
    const key = opts.key ? createSecretKey(opts.key) : await loadOrCreateKey(opts.dataDir, opts.log);
    return new TokenService(key, opts);
  }

  /**
   * A signed token for IDENTITY at SERVICE carrying ACCESS (already decided by grant()).
   * `refused`: names the upstream refused, with its status (access: upstream); `ttlSeconds` shortens
   * the lifetime (a token carrying an upstream's answer lives no longer than that answer).
   */
  async issue(
    identity: Identity,
    service: string,
    access: Scope[],
    opts: { refused?: { name: string; status: number }[]; ttlSeconds?: number } = {},
  ): Promise<IssuedToken> {
    const ttl = Math.max(1, Math.min(this.ttlSeconds, opts.ttlSeconds ?? this.ttlSeconds));
    const issuedAt = new Date(Math.floor(this.#now() / 1000) * 1000);
    const iat = issuedAt.getTime() / 1000;
    const claims: Record<string, unknown> = {
      access: access.map((s) => ({ type: "repository", name: s.repository, actions: s.actions })),
    };
    if (identity.kind === "robot" || identity.kind === "upstream") claims.wharf_kind = identity.kind;
    if (identity.kind === "robot") claims.wharf_robot = identity.id;
    if (opts.refused?.length) claims.wharf_refused = opts.refused;
    const jwt = new SignJWT(claims)
      .setProtectedHeader({ alg: ALG, typ: "JWT" })
      .setIssuer(TOKEN_ISSUER)
      .setAudience(service)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(iat + ttl)
      .setJti(randomUUID());
    // distribution leaves `sub` empty for anonymous tokens; an absent claim says the same.
    if (identity.kind !== "anonymous") jwt.setSubject(identity.name);
    return { token: await jwt.sign(this.#key), expiresIn: ttl, issuedAt };
  }

  /**
   * The token's identity and access. Throws WharfError UNAUTHORIZED for a token this wharf did not
   * sign (another key or issuer), an expired one, or one issued for another SERVICE when given.
   */
  async verify(token: string, service?: string): Promise<VerifiedToken> {
    let payload: Record<string, unknown>;
    try {
      const verified = await jwtVerify(token, this.#key, {
        algorithms: [ALG],
        issuer: TOKEN_ISSUER,
        ...(service === undefined ? {} : { audience: service }),
        currentDate: new Date(this.#now()),
        requiredClaims: ["exp", "aud"],
      });
      payload = verified.payload;
    } catch (e) {
      // jose's error says which check failed without quoting the token; its code is stable.
      const reason = e instanceof joseErrors.JOSEError ? e.code : "ERR_JWT_MALFORMED";
      throw new WharfError("UNAUTHORIZED", "invalid or expired token", { detail: { reason } });
    }
    const aud = Array.isArray(payload.aud) ? payload.aud[0] : payload.aud;
    const sub = typeof payload.sub === "string" && payload.sub !== "" ? payload.sub : undefined;
    const kind = payload.wharf_kind;
    const identity: Identity =
      sub === undefined
        ? { kind: "anonymous" }
        : kind === "robot"
          ? { kind: "robot", name: sub, id: String(payload.wharf_robot ?? "") }
          : kind === "upstream"
            ? { kind: "upstream", name: sub }
            : { kind: "user", name: sub };
    const refused = Array.isArray(payload.wharf_refused)
      ? (payload.wharf_refused as { name?: unknown; status?: unknown }[])
          .filter((r) => typeof r?.name === "string" && typeof r.status === "number")
          .map((r) => ({ name: r.name as string, status: r.status as number }))
      : [];
    return { identity, service: String(aud), access: parseAccess(payload.access), refused };
  }
}

/** The `access` claim, keeping only repository entries and the actions wharf knows. */
function parseAccess(claim: unknown): Scope[] {
  if (!Array.isArray(claim)) return [];
  const scopes: Scope[] = [];
  for (const entry of claim) {
    if (typeof entry !== "object" || entry === null) continue;
    const { type, name, actions } = entry as Record<string, unknown>;
    if (type !== "repository" || typeof name !== "string" || !Array.isArray(actions)) continue;
    scopes.push({ repository: name, actions: ACTIONS.filter((a) => actions.includes(a)) });
  }
  return scopes;
}

/**
 * Reads dataDir/token-signing.key, or creates it. Created under a temp name and linked into place,
 * so two processes starting at once end up with the same key (link fails if the name exists).
 */
async function loadOrCreateKey(dataDir: string, log: Logger): Promise<KeyObject> {
  const file = join(dataDir, TOKEN_KEY_FILE);
  const existing = await readKey(file, log);
  if (existing) return existing;
  await mkdir(dataDir, { recursive: true });
  const tmp = join(dataDir, `.${TOKEN_KEY_FILE}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    const fh = await open(tmp, "wx", 0o600);
    try {
      await fh.writeFile(`${randomBytes(32).toString("base64")}\n`);
      await fh.chmod(0o600);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await link(tmp, file).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== "EEXIST") throw e;
    });
  } finally {
    await rm(tmp, { force: true });
  }
  const key = await readKey(file, log);
  if (!key) throw new WharfError("INTERNAL", `cannot create the token key ${file}`);
  log.info({ file }, "token signing key created");
  return key;
}

async function readKey(file: string, log: Logger): Promise<KeyObject | undefined> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new WharfError("STORE_UNAVAILABLE", `cannot read the token key ${file}`, { cause: e });
  }
  const bytes = Buffer.from(text.trim(), "base64");
  if (bytes.length < 32)
    throw new WharfError("CONFIG_INVALID", `${file}: not a token key (remove it to make a new one)`);
  const mode = (await stat(file)).mode & 0o777;
  if (mode & 0o077) {
    await chmod(file, 0o600);
    log.warn({ file, mode: mode.toString(8) }, "token key was readable by others; mode set to 0600");
  }
  return createSecretKey(bytes);
}
