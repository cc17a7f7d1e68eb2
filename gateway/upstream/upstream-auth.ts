// Upstream authentication: anonymous, Basic, or Bearer tokens from the realm named in the
// registry's WWW-Authenticate challenge (distribution docs, "token.md": GET realm?service&scope).
// Tokens are cached per realm/service/scope until shortly before they expire.
import type { Dispatcher } from "undici";
import { WharfError } from "../../common/errors.ts";
import type { Credentials } from "../config/load-config.ts";
import type { Challenge } from "../oci/www-authenticate.ts";

interface CachedToken {
  header: string;
  expires: number;
}

const EXPIRY_MARGIN_MS = 15_000;

export class UpstreamAuth {
  readonly #credentials: Credentials | undefined;
  readonly #dispatcher: Dispatcher;
  readonly #now: () => number;
  readonly #tokens = new Map<string, CachedToken>();
  readonly #inflight = new Map<string, Promise<string>>();
  readonly #userAgent: string;
  /** The challenge the upstream answered with last; lets later requests authenticate up front. */
  challenge: Challenge | undefined;

  constructor(opts: {
    credentials?: Credentials;
    dispatcher: Dispatcher;
    userAgent: string;
    now?: () => number;
  }) {
    this.#credentials = opts.credentials;
    this.#dispatcher = opts.dispatcher;
    this.#userAgent = opts.userAgent;
    this.#now = opts.now ?? Date.now;
  }

  get username(): string | undefined {
    return this.#credentials?.username;
  }

  basicHeader(): string | undefined {
    const c = this.#credentials;
    return c ? `Basic ${Buffer.from(`${c.username}:${c.password.reveal()}`).toString("base64")}` : undefined;
  }

  /** The Authorization header to send for `scope`, if one is known without a round trip. */
  cachedHeader(scope: string): string | undefined {
    const ch = this.challenge;
    if (!ch) return undefined;
    if (ch.scheme === "basic") return this.basicHeader();
    if (ch.scheme !== "bearer") return undefined;
    const t = this.#tokens.get(this.#key(ch, scope));
    return t && t.expires > this.#now() ? t.header : undefined;
  }

  /** Answers a challenge: the Authorization header to retry with, or undefined if none helps. */
  async answer(challenge: Challenge, scope: string, signal?: AbortSignal): Promise<string | undefined> {
    this.challenge = challenge;
    if (challenge.scheme === "basic") return this.basicHeader();
    if (challenge.scheme !== "bearer" || !challenge.params.realm) return undefined;
    const key = this.#key(challenge, scope);
    const cached = this.#tokens.get(key);
    if (cached && cached.expires > this.#now()) return cached.header;
    let pending = this.#inflight.get(key);
    if (!pending) {
      pending = this.#fetchToken(challenge, scope, key, signal).finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, pending);
    }
    return pending;
  }

  /** Forget a token the upstream rejected. */
  invalidate(scope: string): void {
    if (this.challenge) this.#tokens.delete(this.#key(this.challenge, scope));
  }

  #key(ch: Challenge, scope: string): string {
    return `${ch.params.realm}|${ch.params.service ?? ""}|${scope}`;
  }

  async #fetchToken(ch: Challenge, scope: string, key: string, signal?: AbortSignal): Promise<string> {
    let url: URL;
    try {
      url = new URL(ch.params.realm as string);
    } catch {
      throw new WharfError("UPSTREAM_INVALID", "upstream sent an invalid token realm");
    }
    if (ch.params.service) url.searchParams.set("service", ch.params.service);
    if (scope) url.searchParams.set("scope", scope);
    const headers: Record<string, string> = { "user-agent": this.#userAgent, accept: "application/json" };
    const basic = this.basicHeader();
    if (basic) headers.authorization = basic;
    let res: Dispatcher.ResponseData;
    try {
      res = await this.#dispatcher.request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: "GET",
        headers,
        signal,
      });
    } catch (e) {
      throw new WharfError(
        "UPSTREAM_UNAVAILABLE",
        `token service ${url.host} unreachable (${(e as NodeJS.ErrnoException).code ?? "error"})`,
        { cause: e },
      );
    }
    const text = await res.body.text();
    if (res.statusCode === 401 || res.statusCode === 403) {
      throw new WharfError(
        "UNAUTHORIZED",
        `token service ${url.host} refused ${basic ? "the configured credentials" : "anonymous access"}`,
      );
    }
    if (res.statusCode !== 200) {
      throw new WharfError("UPSTREAM_UNAVAILABLE", `token service ${url.host} answered ${res.statusCode}`);
    }
    let body: { token?: string; access_token?: string; expires_in?: number; issued_at?: string };
    try {
      body = JSON.parse(text);
    } catch {
      throw new WharfError("UPSTREAM_INVALID", `token service ${url.host} sent no JSON`);
    }
    const token = body.token ?? body.access_token;
    if (!token) throw new WharfError("UPSTREAM_INVALID", `token service ${url.host} sent no token`);
    // Spec default lifetime is 60 s when expires_in is missing.
    const lifetime =
      (typeof body.expires_in === "number" && body.expires_in > 0 ? body.expires_in : 60) * 1000;
    const header = `Bearer ${token}`;
    this.#tokens.set(key, {
      header,
      expires: this.#now() + Math.max(lifetime - EXPIRY_MARGIN_MS, lifetime / 2),
    });
    return header;
  }
}
