// A counting HTTP proxy in front of the RADOS Gateway, for "S3 requests per pull" (issue 18).
// Replicas whose endpoint is this proxy have every S3 request recorded (operation and key kind)
// before it is passed on unchanged: the Host header is kept, so the SigV4 signature, computed for
// the proxy's address, still verifies at RGW. RGW's own access lines go to a buffered log file,
// which would make counts after a pull arrive late; here a request is counted when it is sent.
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface S3Request {
  /** HeadObject, GetObject, PutObject, CreateMultipartUpload, UploadPart, Complete…, DeleteObject, List… */
  op: string;
  /** The first path segment under the prefix: blobs, leases, quarantine… ("" for bucket-level). */
  kind: string;
  status: number;
}

function operation(method: string, query: URLSearchParams, copy: boolean): string {
  if (method === "HEAD") return "HeadObject";
  if (method === "GET") return query.has("list-type") || query.has("uploads") ? "List" : "GetObject";
  if (method === "PUT") return query.has("partNumber") ? "UploadPart" : copy ? "CopyObject" : "PutObject";
  if (method === "POST")
    return query.has("uploads")
      ? "CreateMultipartUpload"
      : query.has("uploadId")
        ? "CompleteMultipartUpload"
        : "Post";
  if (method === "DELETE") return query.has("uploadId") ? "AbortMultipartUpload" : "DeleteObject";
  return method;
}

export interface S3Counter {
  /** http://ip:port to give replicas as storage.s3.endpoint. */
  endpoint: string;
  mark(): number;
  since(mark: number): S3Request[];
  /** Resolves once none was in flight for `quietMs` (at most `timeoutMs`): uploads follow a pull. */
  settle(quietMs?: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Listens on `ip` (port chosen by the kernel) and forwards to the path-style endpoint `target`. */
export async function startS3Counter(ip: string, target: string, prefix: string): Promise<S3Counter> {
  const to = new URL(target);
  const seen: S3Request[] = [];
  let last = Date.now();
  let inFlight = 0;
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    // path style: /<bucket>/<prefix><kind>/…
    const key = url.pathname.split("/").slice(2).join("/");
    const rest = key.startsWith(prefix) ? key.slice(prefix.length) : key;
    const entry: S3Request = {
      op: operation(req.method ?? "", url.searchParams, "x-amz-copy-source" in req.headers),
      kind: rest.split("/")[0] ?? "",
      status: 0,
    };
    seen.push(entry);
    inFlight++;
    last = Date.now();
    res.on("close", () => {
      inFlight--;
      last = Date.now();
    });
    const up = request(
      { host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        entry.status = answer.statusCode ?? 0;
        res.writeHead(answer.statusCode ?? 502, answer.rawHeaders);
        answer.pipe(res);
      },
    );
    up.on("error", () => res.destroy());
    req.on("error", () => up.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, ip, resolve);
  });
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://${ip}:${port}`,
    mark: () => seen.length,
    since: (mark) => seen.slice(mark),
    async settle(quietMs = 500, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline && (inFlight > 0 || Date.now() - last < quietMs))
        await new Promise((r) => setTimeout(r, 50));
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** "43 (42 HeadObject, 1 GetObject)": the total and its operations, most frequent first. */
export function describeRequests(rs: S3Request[]): string {
  const by = new Map<string, number>();
  for (const r of rs) {
    const name = r.kind === "leases" ? `${r.op} lease` : r.op;
    by.set(name, (by.get(name) ?? 0) + 1);
  }
  const parts = [...by].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${n} ${k}`);
  return `${rs.length} (${parts.join(", ")})`;
}
