// The DNS responder: UDP and TCP listeners on one port (clients fall back to TCP on the same port
// after a truncated answer, RFC 7766 §5) feeding the query handler. Intercepted names are answered
// authoritatively with wharf's addresses; every other name is forwarded to the upstream resolver.
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { createServer, isIPv6, type Server, type Socket } from "node:net";
import { createQueryHandler, type QueryHandler, type QueryHandlerOptions } from "./query-handler.ts";
import { frame, readFramedMessages } from "./tcp-framing.ts";

export type { DnsLog, QueryKind } from "./query-handler.ts";

export interface DnsResponderOptions extends QueryHandlerOptions {
  host: string;
  /** 0 picks one free port for both UDP and TCP. */
  port: number;
}

export interface DnsResponder {
  udpPort: number;
  tcpPort: number;
  close(): Promise<void>;
}

/** Idle TCP connections are closed after this (RFC 7766 §6.2.3 asks for timeouts of seconds). */
const TCP_IDLE_MS = 10_000;
const BIND_ATTEMPTS = 20;

export async function startDnsResponder(opts: DnsResponderOptions): Promise<DnsResponder> {
  const handler = createQueryHandler(opts);
  const log = opts.log;
  const { udp, tcp } = await bindBoth(opts.host, opts.port);
  const connections = new Set<Socket>();

  udp.on("error", (err) => log?.warn({ err }, "dns udp socket error"));
  udp.on("message", (raw, rinfo) => {
    void handler.handle(raw, { address: rinfo.address, transport: "udp" }).then((answer) => {
      if (answer)
        udp.send(answer, rinfo.port, rinfo.address, (err) => err && log?.debug({ err }, "dns udp send"));
    });
  });

  tcp.on("error", (err) => log?.warn({ err }, "dns tcp listener error"));
  tcp.on("connection", (socket) => {
    connections.add(socket);
    socket.on("close", () => connections.delete(socket));
    serveTcpConnection(socket, handler.handle);
  });

  const { port } = udp.address();
  log?.debug({ host: opts.host, port, upstream: opts.upstream }, "dns responder bound");
  return {
    udpPort: port,
    tcpPort: port,
    async close() {
      handler.close();
      for (const socket of connections) socket.destroy();
      await Promise.all([
        new Promise<void>((resolve) => udp.close(() => resolve())),
        new Promise<void>((resolve) => tcp.close(() => resolve())),
      ]);
    },
  };
}

// Queries on one connection are handled concurrently and answered as they complete, each answer
// carrying its query's ID (RFC 7766 §6.2.1.1). After the client half-closes, the pending answers
// are still written, then the connection ends.
function serveTcpConnection(socket: Socket, handle: QueryHandler["handle"]): void {
  const address = socket.remoteAddress ?? "";
  let pending = 0;
  let ended = false;
  socket.setTimeout(TCP_IDLE_MS, () => socket.destroy());
  socket.on("error", () => socket.destroy());
  socket.on("end", () => {
    ended = true;
    if (pending === 0) socket.end();
  });
  readFramedMessages(socket, (raw) => {
    pending++;
    void handle(raw, { address, transport: "tcp" }).then((answer) => {
      pending--;
      if (answer && !socket.destroyed) socket.write(frame(answer));
      if (ended && pending === 0) socket.end();
    });
  });
}

// Binds UDP first, then TCP on the same port; with port 0 the kernel's UDP pick may be taken for
// TCP, so a few ports are tried.
async function bindBoth(host: string, port: number): Promise<{ udp: UdpSocket; tcp: Server }> {
  for (let attempt = 1; ; attempt++) {
    const udp = createSocket({ type: isIPv6(host) ? "udp6" : "udp4" });
    await new Promise<void>((resolve, reject) => {
      udp.once("error", (err) => {
        udp.close();
        reject(err);
      });
      udp.bind(port, host, () => {
        udp.removeAllListeners("error");
        resolve();
      });
    });
    const chosen = udp.address().port;
    try {
      const tcp = await listenTcp(host, chosen);
      return { udp, tcp };
    } catch (err) {
      await new Promise<void>((resolve) => udp.close(() => resolve()));
      const inUse = (err as NodeJS.ErrnoException).code === "EADDRINUSE";
      if (port !== 0 || !inUse || attempt >= BIND_ATTEMPTS) throw err;
    }
  }
}

function listenTcp(host: string, port: number): Promise<Server> {
  // allowHalfOpen: a client may shut down its sending side and still await its answers.
  const server = createServer({ allowHalfOpen: true });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port, exclusive: true }, () => {
      server.off("error", reject);
      resolve(server);
    });
  });
}
