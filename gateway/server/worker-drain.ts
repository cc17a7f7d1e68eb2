// A worker leaving (rolling restart, shutdown) without dropping a request (docs/workers.md). It
// stops accepting connections but keeps the open ones: HTTP/1.1 responses from then on carry
// `Connection: close` (RFC 9112 section 9.6), so a busy client finishes its request and opens its
// next connection to another worker; HTTP/2 sessions get a GOAWAY (RFC 9113 section 6.8) and
// finish their streams. A keep-alive connection idle for IDLE_GRACE_MS is closed: closing it at
// once would race with the request its client may be sending right then.
import type { Server as HttpServer, IncomingMessage, ServerResponse } from "node:http";
import type { Http2SecureServer, Http2ServerRequest, ServerHttp2Session } from "node:http2";
import { Server as NetServer, type Socket } from "node:net";
import { Server as TlsServer } from "node:tls";

const IDLE_GRACE_MS = 1_000;
const CHECK_MS = 100;

interface Conn {
  inFlight: Set<ServerResponse>;
  idleSince: number;
}

type AnyRequest = IncomingMessage | Http2ServerRequest;

export class DrainTracker {
  readonly #servers: (HttpServer | Http2SecureServer)[] = [];
  readonly #conns = new Map<Socket, Conn>();
  readonly #sessions = new Set<ServerHttp2Session>();
  #draining = false;

  /** Follows `server`'s connections from now on (call before it listens). */
  track(server: HttpServer | Http2SecureServer): void {
    this.#servers.push(server);
    // the TLS socket, not the TCP one beneath it: ending that would cut an HTTP/2 session short
    server.on(server instanceof TlsServer ? "secureConnection" : "connection", (s: Socket) => this.#conn(s));
    server.on("session", (session: ServerHttp2Session) => {
      this.#sessions.add(session);
      session.once("close", () => this.#sessions.delete(session));
      if (this.#draining) session.close();
    });
    server.prependListener("request", (req: AnyRequest, res: ServerResponse) => {
      if (req.httpVersionMajor !== 1) return; // HTTP/2: the session's GOAWAY does it
      const c = this.#conn(req.socket);
      c.inFlight.add(res);
      if (this.#draining) res.setHeader("connection", "close");
      res.once("close", () => {
        c.inFlight.delete(res);
        c.idleSince = Date.now();
      });
    });
  }

  #conn(s: Socket): Conn {
    let c = this.#conns.get(s);
    if (!c) {
      c = { inFlight: new Set(), idleSince: Date.now() };
      this.#conns.set(s, c);
      s.once("close", () => this.#conns.delete(s));
    }
    return c;
  }

  /** Stops accepting and waits (at most `timeoutMs`) until every connection has ended. */
  async drain(timeoutMs: number): Promise<void> {
    this.#draining = true;
    // net.Server's close, not http.Server's: that one also closes idle keep-alive connections at
    // once, which races with their clients' next requests
    for (const s of this.#servers) NetServer.prototype.close.call(s);
    for (const session of this.#sessions) session.close();
    for (const c of this.#conns.values())
      for (const res of c.inFlight) if (!res.headersSent) res.setHeader("connection", "close");
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && (this.#conns.size > 0 || this.#sessions.size > 0)) {
      const now = Date.now();
      for (const [socket, c] of this.#conns) {
        const h2 = (socket as Socket & { alpnProtocol?: string | false }).alpnProtocol === "h2";
        if (!h2 && c.inFlight.size === 0 && now - c.idleSince >= IDLE_GRACE_MS) socket.end();
      }
      await new Promise((r) => setTimeout(r, CHECK_MS));
    }
  }
}
