// The TLS front door: one listener for every impersonated registry. The certificate is picked from
// the ClientHello's SNI name (RFC 6066 section 3); HTTP/2 and HTTP/1.1 are offered by ALPN (RFC 7301).
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  createSecureServer,
  type Http2SecureServer,
  type Http2ServerRequest,
  type Http2ServerResponse,
} from "node:http2";
import type { AddressInfo } from "node:net";
import { createSecureContext, type SecureContext, type TLSSocket } from "node:tls";
import { listenOn } from "../../common/listen.ts";
import { quietHeadEnd } from "./http2-head.ts";
import { applyIdleTimeout } from "./idle-timeout.ts";

export type HttpsRequest = IncomingMessage | Http2ServerRequest;
export type HttpsResponse = ServerResponse | Http2ServerResponse;

export interface HttpsListenerOptions {
  /** LeafCertificates (certs/leaf-certificates.ts), or anything that maps an SNI name to a context. */
  certs: { secureContextFor(servername: string): SecureContext | undefined };
  requestListener: (req: HttpsRequest, res: HttpsResponse) => void;
  /** HTTP/1.1: time allowed for a client to send its request headers. */
  headersTimeoutMs?: number;
  /** Connections with no activity and no request in flight (HTTP/1.1 keep-alive, HTTP/2 sessions) are closed after this. */
  idleTimeoutMs?: number;
  /** Time allowed for the TLS handshake itself. */
  handshakeTimeoutMs?: number;
  /** Called for a ClientHello naming a host wharf has no certificate for (for logs and metrics). */
  onUnknownServername?: (servername: string) => void;
}

interface Http1Settings {
  headersTimeout: number;
  requestTimeout: number;
  connectionsCheckingInterval: number;
}

export function createHttpsListener(opts: HttpsListenerOptions): Http2SecureServer {
  const headersTimeoutMs = opts.headersTimeoutMs ?? 30_000;
  const idleTimeoutMs = opts.idleTimeoutMs ?? 60_000;
  // A context without a certificate: the handshake then ends with a handshake_failure alert, which
  // clients report more clearly than the connection reset an SNICallback error would cause.
  const noCertificate = createSecureContext({ minVersion: "TLSv1.2" });
  const server = createSecureServer(
    {
      allowHTTP1: true,
      minVersion: "TLSv1.2",
      // No cert/key here on purpose: a ClientHello without SNI reaches the default context, which has
      // no certificate, so the handshake fails instead of revealing some registry's certificate.
      SNICallback: (servername, cb) => {
        const ctx = opts.certs.secureContextFor(servername);
        if (!ctx) opts.onUnknownServername?.(servername);
        cb(null, ctx ?? noCertificate);
      },
      handshakeTimeout: opts.handshakeTimeoutMs ?? 10_000,
      // Bounded so one client cannot make the gateway hold unbounded per-stream state.
      settings: { maxConcurrentStreams: 256 },
    },
    function request(req: HttpsRequest, res: HttpsResponse) {
      quietHeadEnd(req);
      opts.requestListener(req, res);
    },
  );
  // HTTP/1.1 fallback (allowHTTP1) honours these like http.Server does. requestTimeout 0: a request has
  // no body worth bounding separately (pulls are GET/HEAD); headersTimeout guards against slowloris.
  // (@types/node does not declare these on Http2SecureServer; Node sets them when allowHTTP1 is on.)
  const http1 = server as Http2SecureServer & Http1Settings;
  http1.headersTimeout = headersTimeoutMs;
  http1.requestTimeout = 0;
  // The headers timeout is enforced by a periodic sweep (30 s by default); sweep often enough to matter.
  http1.connectionsCheckingInterval = Math.max(100, Math.min(30_000, headersTimeoutMs / 2));
  applyIdleTimeout(server, idleTimeoutMs);
  return server;
}

/** Binds the listener; errors name the address (see listen.ts). */
export function listen(server: Http2SecureServer, host: string, port: number): Promise<AddressInfo> {
  return listenOn(server, host, port, "https");
}

/** The SNI name the client sent on this request's connection (lower case), for HTTP/1.1 and HTTP/2 alike. */
export function servernameOf(req: HttpsRequest): string | undefined {
  const stream = (req as Http2ServerRequest).stream;
  const socket = (stream ? stream.session?.socket : req.socket) as TLSSocket | undefined;
  const name = socket?.servername;
  return typeof name === "string" && name.length > 0 ? name.toLowerCase() : undefined;
}
