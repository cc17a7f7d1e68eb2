// The HTTPS server under the tamper proxy and the blob CDN: an async handler (a failure drops the
// connection, as a broken upstream would), listening on host:port, stopped with its connections.
import { readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";

export interface HttpsTestServer {
  port: number;
  stop(): Promise<void>;
}

export async function startHttpsTestServer(
  o: { host: string; port: number; cert: string; key: string },
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
): Promise<HttpsTestServer> {
  const server = createServer({ cert: readFileSync(o.cert), key: readFileSync(o.key) }, (req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
