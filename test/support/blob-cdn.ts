// A stand-in for the CDN hosts registries redirect blob downloads to (Docker Hub ->
// production.cloudflare.docker.com, ghcr.io -> pkg-containers.githubusercontent.com; clients.md).
// Like a pre-signed URL, a CDN link needs no credentials; and like S3 with a pre-signed URL,
// a request that also carries an Authorization header is refused (400): that proves a client
// dropped the registry's Authorization on the cross-host redirect.
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { pipeline } from "node:stream/promises";
import { type Dispatcher, request } from "undici";
import { startHttpsTestServer } from "./https-test-server.ts";

export interface CdnRequest {
  method: string;
  path: string;
  status: number;
  ua: string;
  authorization: boolean;
}

export interface BlobCdnOptions {
  host: string;
  /** Default 0 (a free port). */
  port?: number;
  /** Host name used in links (must be in the certificate and resolvable by clients); default host. */
  name?: string;
  cert: string;
  key: string;
  /** How the CDN reaches the registry it fronts (trusting the test CA). */
  dispatcher: Dispatcher;
}

export interface BlobCdn {
  url: string;
  requests: CdnRequest[];
  /** Makes a link that serves `source` (fetched with `authorization`, if any) to anyone without credentials. */
  offer(source: string, authorization?: string): string;
  stop(): Promise<void>;
}

const PASS_HEADERS = [
  "content-type",
  "content-length",
  "content-range",
  "accept-ranges",
  "etag",
  "docker-content-digest",
];

export async function startBlobCdn(o: BlobCdnOptions): Promise<BlobCdn> {
  const links = new Map<string, { source: string; authorization?: string }>();
  const requests: CdnRequest[] = [];

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = req.url ?? "/";
    const entry: CdnRequest = {
      method: req.method ?? "",
      path,
      status: 0,
      ua: req.headers["user-agent"] ?? "",
      authorization: req.headers.authorization !== undefined,
    };
    requests.push(entry);
    const reply = (status: number, text: string): void => {
      entry.status = status;
      res.writeHead(status, { "content-type": "text/plain" });
      res.end(`${text}\n`);
    };
    const link = links.get(path.split("/")[2] ?? "");
    if (entry.authorization) return reply(400, "a CDN link must be fetched without an Authorization header");
    if (!link || (req.method !== "GET" && req.method !== "HEAD")) return reply(404, "no such link");
    const headers: Record<string, string> = {};
    if (link.authorization) headers.authorization = link.authorization;
    if (req.headers.range) headers.range = req.headers.range;
    const up = await request(link.source, { method: req.method, headers, dispatcher: o.dispatcher });
    const out: Record<string, string> = {};
    for (const h of PASS_HEADERS) {
      const v = up.headers[h];
      if (typeof v === "string") out[h] = v;
    }
    entry.status = up.statusCode;
    res.writeHead(up.statusCode, out);
    await pipeline(up.body, res);
  };

  const server = await startHttpsTestServer({ ...o, port: o.port ?? 0 }, handle);
  const port = server.port;
  const name = o.name ?? o.host;
  const url = `https://${name.includes(":") ? `[${name}]` : name}:${port}`;
  return {
    url,
    requests,
    offer(source, authorization) {
      const id = randomUUID();
      links.set(id, { source, authorization });
      const digest = new URL(source).pathname.split("/").pop() ?? "blob";
      return `${url}/l/${id}/${digest}`;
    },
    stop: () => server.stop(),
  };
}
