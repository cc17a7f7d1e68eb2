// An HTTP/2 client that behaves as Go's transport (docker, containerd, skopeo) does when a server
// goes away gracefully: after a GOAWAY it opens a new session for the next requests, and a request
// the server did not process (sent on a closing session, or refused: RFC 9113 section 8.7) is sent
// again, counted in `resent`. Any other failure is the caller's to see.
import { type ClientHttp2Session, connect, constants } from "node:http2";
import { connect as tlsConnect } from "node:tls";

const UNPROCESSED = new Set(["ERR_HTTP2_GOAWAY_SESSION", "ERR_HTTP2_INVALID_SESSION"]);

export class H2Client {
  resent = 0;
  #session: ClientHttp2Session | undefined;
  #goingAway = false;
  /** The last stream id each session's GOAWAY said was processed. */
  readonly #lastProcessed = new WeakMap<ClientHttp2Session, number>();
  readonly #o: { ip: string; servername: string; ca: Buffer };

  constructor(o: { ip: string; servername: string; ca: Buffer }) {
    this.#o = o;
  }

  #current(): ClientHttp2Session {
    if (this.#session && !this.#goingAway && !this.#session.closed && !this.#session.destroyed)
      return this.#session;
    const { ip, servername, ca } = this.#o;
    const s = connect(`https://${servername}`, {
      createConnection: () => tlsConnect({ host: ip, port: 443, servername, ca, ALPNProtocols: ["h2"] }),
    });
    s.on("error", () => {});
    s.on("goaway", (_code: number, lastStreamID: number) => {
      this.#lastProcessed.set(s, lastStreamID);
      if (this.#session === s) this.#goingAway = true;
    });
    this.#session = s;
    this.#goingAway = false;
    return s;
  }

  async get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; bytes: number }> {
    try {
      return await this.#once(path, headers);
    } catch (e) {
      const err = e as NodeJS.ErrnoException & { unprocessed?: boolean };
      if (!(err.unprocessed || UNPROCESSED.has(err.code ?? ""))) throw e;
      this.resent++;
      this.#goingAway = true;
      return this.#once(path, headers);
    }
  }

  #once(path: string, headers: Record<string, string>): Promise<{ status: number; bytes: number }> {
    return new Promise((resolve, reject) => {
      const session = this.#current();
      const req = session.request({ ":path": path, ...headers });
      // closed with no response: not processed when refused, or above the GOAWAY's last stream id
      const unanswered = (e?: Error) => {
        const last = this.#lastProcessed.get(session);
        const unprocessed =
          req.rstCode === constants.NGHTTP2_REFUSED_STREAM ||
          (last !== undefined && req.id !== undefined && req.id > last);
        const err =
          e ??
          new Error(`stream ${req.id} closed without a response (rst ${req.rstCode}, goaway last ${last})`);
        reject(Object.assign(err, { unprocessed }));
      };
      let status = 0;
      let bytes = 0;
      req.on("response", (h) => {
        status = Number(h[":status"]);
      });
      req.on("data", (c: Buffer) => {
        bytes += c.length;
      });
      req.on("end", () => (status === 0 ? unanswered() : resolve({ status, bytes })));
      req.on("close", () => (status === 0 ? unanswered() : undefined));
      req.on("error", (e: Error) => (status === 0 ? unanswered(e) : reject(e)));
      req.end();
    });
  }

  close(): void {
    this.#session?.close();
  }
}
