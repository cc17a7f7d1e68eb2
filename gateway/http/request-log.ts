// One log line and one metrics event per registry request, with a request id. A middleware: it
// creates the request's state before any other, and reports once the handler and onError are done.
import type { MiddlewareHandler } from "hono";
import type { AccessNote } from "../access/access-audit.ts";
import type { Logger } from "../log.ts";
import type { Outcome } from "../registry/registry.ts";
import type { Env } from "./http-env.ts";

export interface RequestEvent {
  registry: string | undefined;
  repository: string | undefined;
  reference: string | undefined;
  kind: "manifest" | "blob" | "tags" | "base" | "upload" | "catalog" | "referrers" | "other";
  method: string;
  status: number;
  outcome: Outcome | "error";
  bytes: number;
  ms: number;
  errorCode?: string;
  /** What the upstream answered, when this request went upstream (200 for fetched content). */
  upstreamStatus?: number;
  /** Unique per wharf process; on the request's log line and on any line a handler logs. */
  requestId?: string;
  /** The access decision (access/access-audit.ts): who, which action, allowed or denied, and by what. */
  access?: AccessNote;
}

/** Per-request state shared by the middlewares and the routes. */
export class RequestState {
  readonly event: RequestEvent;
  readonly started = performance.now();
  /** The TLS server name of the connection (the guard reads it once). */
  servername: string | undefined;
  /** The error's message for the log line (onError sets it with the event's error fields). */
  error: string | undefined;
  readonly #parent: Logger;
  #log: Logger | undefined;

  constructor(method: string, requestId: string, parent: Logger) {
    this.event = {
      registry: undefined,
      repository: undefined,
      reference: undefined,
      kind: "other",
      method,
      status: 0,
      outcome: "error",
      bytes: 0,
      ms: 0,
      requestId,
    };
    this.#parent = parent;
  }

  /** A child logger carrying the request id, made only when a handler logs (most never do). */
  get log(): Logger {
    this.#log ??= this.#parent.child({ requestId: this.event.requestId });
    return this.#log;
  }

  /** A reply written to the socket by the handler itself (hono's Response is then a placeholder). */
  sent(status: number, outcome: Outcome, bytes: number): void {
    this.event.status = status;
    this.event.outcome = outcome;
    this.event.bytes = bytes;
  }
}

/** A process-unique, cheap request id: a random prefix per process and a counter. */
function requestIds(): () => string {
  const prefix = Math.floor(Math.random() * 36 ** 4)
    .toString(36)
    .padStart(4, "0");
  let n = 0;
  return () => `${prefix}-${(++n).toString(36)}`;
}

export function requestLog(opts: {
  log: Logger;
  onRequest?: (e: RequestEvent) => void;
}): MiddlewareHandler<Env> {
  // The request line has fixed keys and no secret can reach it (err is a message string), so the
  // logger's key-path redaction finds nothing here; it costs about 70 µs per line with the
  // wildcard paths of log.ts, a tenth of a core at 2,000 manifest requests per second.
  const lineLog = opts.log.child({}, { redact: [] });
  const nextId = requestIds();
  return async function requestLogger(c, next) {
    const state = new RequestState(c.req.method, nextId(), opts.log);
    c.set("state", state);
    await next();
    const event = state.event;
    // status 0: the reply went back through hono (HEAD, JSON), not written by the handler
    if (event.status === 0) event.status = c.res.status;
    event.ms = Math.round(performance.now() - state.started);
    // A miss, a coalesced fill, a revalidation or a passthrough only proceeds on an upstream 200.
    const o = event.outcome;
    if (
      event.upstreamStatus === undefined &&
      (o === "miss" || o === "coalesced" || o === "revalidated" || o === "passthrough")
    )
      event.upstreamStatus = 200;
    opts.onRequest?.(event);
    // no copy of the event for the usual line without an error (pino leaves out undefined keys)
    const line = state.error === undefined ? event : { ...event, err: state.error };
    lineLog[event.status >= 500 ? "warn" : "info"](line, "request");
  };
}
