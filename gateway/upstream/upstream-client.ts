// Talks to one registry's upstream: authentication, redirects (blobs go to CDN hosts, reached
// without the registry's Authorization header), rate-limit headers, breaker, error mapping.
import type { Readable } from "node:stream";
import { type Dispatcher, interceptors, errors as undiciErrors } from "undici";
import { WharfError } from "../../common/errors.ts";
import type { Credentials } from "../config/load-config.ts";
import type { Logger } from "../log.ts";
import { parseWwwAuthenticate } from "../oci/www-authenticate.ts";
import { CircuitBreaker, parseRetryAfter } from "./circuit-breaker.ts";
import { UpstreamAuth } from "./upstream-auth.ts";
import { UpstreamHealth } from "./upstream-health.ts";

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | undefined>;
  body: Readable & { text(): Promise<string>; arrayBuffer(): Promise<ArrayBuffer>; dump(): Promise<void> };
}

export interface RateLimitSample {
  limit?: string;
  remaining?: string;
}

export interface UpstreamClientOptions {
  registry: string;
  upstream: string;
  dispatcher: Dispatcher;
  credentials?: Credentials;
  log: Logger;
  userAgent: string;
  now?: () => number;
  /** Called with Docker Hub's ratelimit-* headers whenever an upstream response carries them. */
  onRateLimit?: (sample: RateLimitSample, username: string | undefined) => void;
  breaker?: CircuitBreaker;
}

const MAX_REDIRECTS = 5;

/**
 * Redirects are followed by undici's redirect interceptor. Going to another origin it strips
 * `authorization` (and cookies) from the request (lib/handler/redirect-handler.js,
 * cleanRequestHeaders), which is what a blob CDN with signed URLs needs; test/e2e/pull-through
 * checks that the CDN saw no credentials. Retries are not added: undici's retry interceptor would
 * retry 429 and 5xx (which the breaker handles, and which e2e tests count) and resume a broken
 * blob body with a Range request, where a fill must fail and be restarted from a verified start.
 */
function withRedirects(dispatcher: Dispatcher): Dispatcher {
  return dispatcher.compose(interceptors.redirect({ maxRedirections: MAX_REDIRECTS }));
}

function flattenHeaders(
  h: Record<string, string | string[] | undefined>,
): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(h)) out[k.toLowerCase()] = Array.isArray(v) ? v.join(", ") : v;
  return out;
}

export class UpstreamClient {
  readonly registry: string;
  readonly base: URL;
  readonly auth: UpstreamAuth;
  readonly breaker: CircuitBreaker;
  /** What the status page shows of this upstream: last answer, last failure, manifest bytes. */
  readonly health: UpstreamHealth;
  readonly #dispatcher: Dispatcher;
  readonly #raw: Dispatcher;
  readonly #log: Logger;
  readonly #userAgent: string;
  readonly #now: () => number;
  readonly #onRateLimit: UpstreamClientOptions["onRateLimit"];

  constructor(opts: UpstreamClientOptions) {
    this.registry = opts.registry;
    this.base = new URL(opts.upstream);
    this.#dispatcher = withRedirects(opts.dispatcher);
    this.#raw = opts.dispatcher;
    this.#log = opts.log;
    this.#userAgent = opts.userAgent;
    this.#now = opts.now ?? Date.now;
    this.#onRateLimit = opts.onRateLimit;
    this.breaker = opts.breaker ?? new CircuitBreaker({ now: this.#now });
    this.health = new UpstreamHealth({ now: this.#now });
    this.auth = new UpstreamAuth({
      credentials: opts.credentials,
      dispatcher: opts.dispatcher,
      userAgent: opts.userAgent,
      now: this.#now,
    });
  }

  /**
   * Sends METHOD /v2/<path> upstream for `repository`, authenticating as needed and following
   * redirects. Returns any HTTP status; throws WharfError only when no answer could be had.
   */
  async request(
    method: "GET" | "HEAD",
    path: string,
    opts: {
      repository: string;
      headers?: Record<string, string>;
      signal?: AbortSignal;
      /** Someone else's login (a client's, for access: upstream); default wharf's own. */
      auth?: UpstreamAuth;
    },
  ): Promise<UpstreamResponse> {
    const auth = opts.auth ?? this.auth;
    if (!this.breaker.allow()) {
      const wait = Math.ceil(this.breaker.retryAfterMs() / 1000);
      throw new WharfError(
        "UPSTREAM_UNAVAILABLE",
        `upstream ${this.registry} is paused after errors (${this.breaker.lastError ?? "unknown"}); retrying in ${wait}s`,
        {
          headers: { "retry-after": String(Math.max(1, wait)) },
        },
      );
    }
    const scope = `repository:${opts.repository}:pull`;
    const basePath = this.base.pathname.replace(/\/$/, "");
    let res = await this.#send(
      method,
      new URL(`${basePath}/v2/${path}`, this.base),
      opts,
      auth.cachedHeader(scope),
    );
    if (res.status === 401) {
      const challenge = parseWwwAuthenticate(res.headers["www-authenticate"]).find(
        (c) => c.scheme === "bearer" || c.scheme === "basic",
      );
      await res.body.dump();
      auth.invalidate(scope);
      const header = challenge ? await auth.answer(challenge, scope, opts.signal) : undefined;
      if (header) res = await this.#send(method, new URL(`${basePath}/v2/${path}`, this.base), opts, header);
    }
    this.#account(res);
    return res;
  }

  /** A login at this upstream other than wharf's own (held in memory only, never logged). */
  authFor(credentials: Credentials | undefined): UpstreamAuth {
    const auth = new UpstreamAuth({
      ...(credentials && { credentials }),
      dispatcher: this.#raw,
      userAgent: this.#userAgent,
      now: this.#now,
    });
    // the upstream's challenge is the same for everyone: skip the round trip that learns it
    auth.challenge = this.auth.challenge;
    return auth;
  }

  /** Health and credential check without spending a pull: GET /v2/ with auth. */
  async ping(signal?: AbortSignal): Promise<number> {
    const res = await this.request("GET", "", { repository: "", signal });
    await res.body.dump();
    return res.status;
  }

  #account(res: UpstreamResponse): void {
    const limit = res.headers["ratelimit-limit"];
    const remaining = res.headers["ratelimit-remaining"];
    if ((limit || remaining) && this.#onRateLimit)
      this.#onRateLimit({ limit, remaining }, this.auth.username);
    if (res.status === 429) {
      const ms = parseRetryAfter(res.headers["retry-after"], this.#now());
      this.breaker.pauseFor(ms, "429 too many requests");
    } else if (res.status >= 500) {
      this.breaker.failure(`HTTP ${res.status}`);
    } else {
      this.breaker.success();
    }
    if (res.status >= 500) this.health.failure(`HTTP ${res.status}`);
    else this.health.success();
  }

  async #send(
    method: "GET" | "HEAD",
    url: URL,
    opts: { headers?: Record<string, string>; signal?: AbortSignal },
    authorization: string | undefined,
  ): Promise<UpstreamResponse> {
    const headers: Record<string, string> = { "user-agent": this.#userAgent, ...opts.headers };
    if (authorization) headers.authorization = authorization;
    let r: Dispatcher.ResponseData;
    try {
      r = await this.#dispatcher.request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method,
        headers,
        signal: opts.signal,
        // undici sends `connection: close` with every HEAD unless told otherwise (a guard against
        // servers that send a body with HEAD answers): with tagTtl 0 every pull would then cost a
        // new TLS connection upstream. Registries answer HEAD correctly (RFC 9110 9.3.2).
        reset: false,
      });
    } catch (e) {
      throw this.#networkError(e, url);
    }
    const hops = (r.context as { history?: URL[] } | undefined)?.history;
    if (hops && hops.length > 1)
      this.#log.debug(
        { registry: this.registry, hops: hops.map((u) => u.host), status: r.statusCode },
        "followed upstream redirects",
      );
    return {
      status: r.statusCode,
      headers: flattenHeaders(r.headers),
      body: r.body as unknown as UpstreamResponse["body"],
    };
  }

  #networkError(e: unknown, url: URL): WharfError {
    if (e instanceof WharfError) return e;
    const err = e as NodeJS.ErrnoException & { wharf?: WharfError; name?: string };
    if (err?.name === "AbortError")
      return new WharfError("UPSTREAM_UNAVAILABLE", "request aborted", { cause: e });
    let w: WharfError;
    if (err.wharf instanceof WharfError) w = err.wharf;
    else if (
      e instanceof undiciErrors.HeadersTimeoutError ||
      e instanceof undiciErrors.ConnectTimeoutError ||
      err.code === "UND_ERR_CONNECT_TIMEOUT"
    ) {
      w = new WharfError("UPSTREAM_TIMEOUT", `upstream ${url.host} timed out`, { cause: e });
    } else {
      const code = err.code ?? (err.cause as NodeJS.ErrnoException | undefined)?.code ?? "error";
      w = new WharfError("UPSTREAM_UNAVAILABLE", `upstream ${url.host} unreachable (${code})`, { cause: e });
    }
    this.breaker.failure(w.message);
    this.health.failure(w.message);
    return w;
  }
}
