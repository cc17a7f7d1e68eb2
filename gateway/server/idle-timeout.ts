// The listeners' idle timeout (limits.idleTimeout) closes connections that carry no request, as
// Node's inactivity timeout does. But Node counts a request that waits for wharf's own work (a
// ranged read waiting for its fill to be verified, a slow upstream) as inactivity too, and would
// cut the client long before the fill's own timeout. So while a request is in wharf's hands the
// timeout of what carries it is suspended: the HTTP/1.1 socket, or the HTTP/2 session, counted
// per session since one session carries many streams (RFC 9113 section 5). It comes back when
// the last such request's response is done. A client that stops reading a response is the send
// watchdog's job (limits.sendTimeout); a request body the client stops sending keeps the idle
// timeout, since its hold starts only once the body has arrived.
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Http2SecureServer, Http2ServerRequest, Http2ServerResponse } from "node:http2";

/** What owns the inactivity timer of a request's connection: its socket, or its HTTP/2 session. */
interface TimerOwner {
  setTimeout(ms: number): unknown;
  readonly destroyed: boolean;
}

const PENDING = Symbol("wharf.pendingRequests");
type Counted = TimerOwner & { [PENDING]?: number };

/** Methods whose requests carry no body to wait for (RFC 9110 section 9.3). */
const BODYLESS = new Set(["GET", "HEAD", "DELETE", "OPTIONS"]);

/** Idle timeout on `server`, suspended while a request on a connection waits for wharf. */
export function applyIdleTimeout(server: Server | Http2SecureServer, idleTimeoutMs: number): void {
  // HTTP/1.1 between requests (http.Server, and Http2SecureServer with allowHTTP1, which honours it).
  (server as { keepAliveTimeout: number }).keepAliveTimeout = idleTimeoutMs;
  // Inactivity of HTTP/1.1 sockets and HTTP/2 sessions; with no 'timeout' listener Node closes them.
  server.setTimeout(idleTimeoutMs);
  // Prepended: the hold must exist before the application's handler starts waiting.
  (server as Server).prependListener("request", (req, res) => holdWhilePending(req, res, idleTimeoutMs));
}

function timerOwner(req: IncomingMessage | Http2ServerRequest): Counted | undefined {
  const stream = (req as Http2ServerRequest).stream;
  return (stream ? stream.session : req.socket) as Counted | undefined;
}

function holdWhilePending(
  req: IncomingMessage | Http2ServerRequest,
  res: ServerResponse | Http2ServerResponse,
  idleTimeoutMs: number,
): void {
  const owner = timerOwner(req);
  if (!owner) return;
  let held = false;
  let done = false;
  const hold = () => {
    if (held || done || owner.destroyed) return;
    held = true;
    owner[PENDING] = (owner[PENDING] ?? 0) + 1;
    if (owner[PENDING] === 1) owner.setTimeout(0);
  };
  const release = () => {
    done = true;
    if (!held) return;
    held = false;
    owner[PENDING] = (owner[PENDING] ?? 1) - 1;
    if (owner[PENDING] === 0 && !owner.destroyed) owner.setTimeout(idleTimeoutMs);
  };
  // 'close' follows every response, finished or cut short (HTTP/1.1 and HTTP/2 alike); one plain
  // listener, as a once() pair cost two wrappers per request
  res.on("close", release);
  if (BODYLESS.has(req.method ?? "GET")) hold();
  else req.once("end", hold);
}
