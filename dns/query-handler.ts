// What the responder does with one query, whatever the transport: rate limit, parse, access check,
// then answer an intercepted name itself or forward the query to the upstream resolver.

import { createAccessList } from "./client-access.ts";
import { encodeAnswer, encodeError, encodeHeaderError, RCODE } from "./dns-answer.ts";
import { type DnsQuery, readMessage, udpLimit } from "./dns-query.ts";
import type { QueryKind } from "./query-kinds.ts";
import { createRateLimiter } from "./rate-limiter.ts";
import { forwardTcp, forwardUdp, isTruncated, type Upstream } from "./upstream-forwarder.ts";

export { QUERY_KINDS, type QueryKind } from "./query-kinds.ts";

/** The logging the responder needs; a pino logger fits. */
export interface DnsLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export interface QueryHandlerOptions {
  upstream: Upstream;
  ttl: number;
  /** CIDRs of the clients served; everyone else gets REFUSED. */
  allow: readonly string[];
  /** Queries per second per client IP; 0 = no limit. */
  rateLimit: number;
  /** The answer for an intercepted name, or undefined to forward it (also how callers fail open). */
  lookup: (name: string) => { addresses: readonly string[] } | undefined;
  log?: DnsLog;
  onQuery?: (kind: QueryKind) => void;
  upstreamTimeoutMs?: number;
}

export interface QueryContext {
  address: string;
  transport: "udp" | "tcp";
}

export interface QueryHandler {
  /** The bytes to send back, or undefined to stay silent. Never rejects. */
  handle(raw: Buffer, client: QueryContext): Promise<Buffer | undefined>;
  /** Abandons queries still waiting for the upstream. */
  close(): void;
}

/** Forwarded queries waiting for the upstream at once; past this, new ones are dropped. */
const MAX_IN_FLIGHT = 1024;
const TCP_MAX = 65535;

const quiet: DnsLog = { info() {}, warn() {}, debug() {} };

export function createQueryHandler(opts: QueryHandlerOptions): QueryHandler {
  const log = opts.log ?? quiet;
  const isAllowed = createAccessList(opts.allow);
  const limiter = createRateLimiter({ ratePerSecond: opts.rateLimit });
  const timeoutMs = opts.upstreamTimeoutMs ?? 2000;
  const closing = new AbortController();
  let inFlight = 0;
  let upstreamFailing = false;

  function count(kind: QueryKind, query: DnsQuery | undefined, client: QueryContext): void {
    log.debug(
      { kind, name: query?.name, type: query?.type, client: client.address, via: client.transport },
      "dns query",
    );
    try {
      opts.onQuery?.(kind);
    } catch (err) {
      log.warn({ err }, "dns onQuery callback failed");
    }
  }

  async function forward(raw: Buffer, query: DnsQuery, client: QueryContext): Promise<Buffer> {
    const fwd = { upstream: opts.upstream, timeoutMs, signal: closing.signal };
    if (client.transport === "tcp") return forwardTcp(raw, query.question, fwd);
    const answer = await forwardUdp(raw, query.question, fwd);
    if (!isTruncated(answer)) return answer;
    // Fetch the full answer over TCP ourselves; if it still exceeds what the client takes over UDP,
    // relay the truncated one so the client retries over TCP (RFC 7766 §5).
    try {
      const full = await forwardTcp(raw, query.question, fwd);
      return full.length <= udpLimit(query) ? full : answer;
    } catch {
      return answer;
    }
  }

  function upstreamHealth(ok: boolean, err?: unknown): void {
    if (ok && upstreamFailing) log.info({ upstream: opts.upstream }, "dns upstream answers again");
    if (!ok && !upstreamFailing && !closing.signal.aborted) {
      log.warn({ upstream: opts.upstream, err: String(err) }, "dns upstream failed; answering SERVFAIL");
    }
    upstreamFailing = !ok;
  }

  async function handle(raw: Buffer, client: QueryContext): Promise<Buffer | undefined> {
    if (!limiter.take(client.address)) return void count("ratelimited", undefined, client);
    const message = readMessage(raw);
    if (!message) return void count("dropped", undefined, client);
    if (message.kind !== "query") {
      // Never larger than the query (a bare header), so it cannot amplify a spoofed flood.
      count(message.kind, undefined, client);
      return encodeHeaderError(message.header, message.kind === "formerr" ? RCODE.FORMERR : RCODE.NOTIMP);
    }
    const { query } = message;
    if (!isAllowed(client.address)) {
      count("refused", query, client);
      return encodeError(query, RCODE.REFUSED);
    }
    let entry: { addresses: readonly string[] } | undefined;
    try {
      entry = opts.lookup(query.name);
    } catch (err) {
      // A broken lookup must not send an intercepted name upstream: fail closed for this query.
      log.warn({ err, name: query.name }, "dns lookup failed");
      count("servfail", query, client);
      return encodeError(query, RCODE.SERVFAIL);
    }
    if (entry) {
      // Never forwarded, whatever the type: the real registry must stay out of reach (NODATA instead).
      count("intercepted", query, client);
      return encodeAnswer(
        query,
        entry.addresses,
        opts.ttl,
        client.transport === "tcp" ? TCP_MAX : udpLimit(query),
      );
    }
    if (inFlight >= MAX_IN_FLIGHT) return void count("dropped", query, client);
    inFlight++;
    try {
      const answer = await forward(raw, query, client);
      upstreamHealth(true);
      count("forwarded", query, client);
      return answer;
    } catch (err) {
      upstreamHealth(false, err);
      count("servfail", query, client);
      return encodeError(query, RCODE.SERVFAIL);
    } finally {
      inFlight--;
    }
  }

  return {
    async handle(raw, client) {
      try {
        return await handle(raw, client);
      } catch (err) {
        // A bug must cost one query, not the process.
        log.warn({ err }, "dns query handling failed");
        count("dropped", undefined, client);
        return undefined;
      }
    },
    close: () => closing.abort(),
  };
}
