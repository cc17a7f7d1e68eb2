// A misbehaving upstream on demand: an HTTPS server that forwards every request to a real
// registry and passes the answers through, unless a rule for the requested digest (or "*")
// says to corrupt the body (same length), truncate it (half, then a dropped connection),
// redirect to a CDN that refuses Authorization headers, answer with a status (503, 429 +
// Retry-After…), delay before the headers, or send the body slowly. Counts what it saw, like the registries' access logs.
import { readFileSync } from "node:fs";
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Agent, request } from "undici";
import { type LoggedRequest, matchesFilter, type RequestFilter } from "./access-log.ts";
import { type BlobCdn, startBlobCdn } from "./blob-cdn.ts";
import { startHttpsTestServer } from "./https-test-server.ts";

export type TamperRule = (
  | { kind: "corrupt" }
  | { kind: "truncate" }
  | { kind: "redirect" }
  | { kind: "status"; status: number; headers?: Record<string, string>; body?: string }
  | { kind: "delay"; ms: number }
  /** Pass the body through at about this rate, in chunks of at most 64 KiB (a slow link). */
  | { kind: "slow"; bytesPerSecond: number }
  /** Pass through, adding these response headers (Docker Hub's ratelimit-* for example). */
  | { kind: "headers"; headers: Record<string, string> }
) & {
  /** Apply this many times, then pass through again; default: until cleared. */
  times?: number;
  /** Default GET for corrupt/truncate/redirect/slow, every method for status/delay. */
  methods?: string[];
};

export interface TamperedRequest extends LoggedRequest {
  /** The rule applied, if any. */
  rule: TamperRule["kind"] | null;
  authorization: boolean;
}

export interface TamperProxyOptions {
  host: string;
  /** Default 443. */
  port?: number;
  cert: string;
  key: string;
  /** The registry to forward to, e.g. an UpstreamRegistry's url. */
  upstream: string;
  /** CA the upstream's certificate chains to. */
  caFile: string;
  /** Where the CDN listens; default the proxy's host on a free port. Give another host for a cross-host redirect. */
  cdn?: { host: string; port?: number; name?: string };
}

export interface TamperProxy {
  url: string;
  cdn: BlobCdn;
  mark(): number;
  requests(since?: number): TamperedRequest[];
  count(filter?: RequestFilter<TamperedRequest>, since?: number): number;
  /** Rule for requests whose last path segment is `digest` (blobs or manifests), or for every request ("*"). */
  setRule(digest: string, rule: TamperRule): void;
  /** Removes every rule. */
  clear(): void;
  stop(): Promise<void>;
}

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "transfer-encoding",
  "upgrade",
  "te",
  "trailer",
  "host",
]);

function forwardHeaders(h: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(h))
    if (v !== undefined && !HOP_BY_HOP.has(k) && !k.startsWith("proxy-")) out[k] = v;
  return out;
}

/** Lets bytes through at `bytesPerSecond`, each chunk waiting until the rate allows it. */
function throttle(bytesPerSecond: number): Transform {
  const started = Date.now();
  let sent = 0;
  return new Transform({
    async transform(chunk: Buffer, _enc, done) {
      for (let at = 0; at < chunk.length; at += 65_536) {
        const part = chunk.subarray(at, at + 65_536);
        sent += part.length;
        const due = started + (sent / bytesPerSecond) * 1000;
        if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
        this.push(part);
      }
      done();
    },
  });
}

/** Flips every bit of the byte at `offset`: same length, different digest. */
function flipByte(offset: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      if (offset >= seen && offset < seen + chunk.length) {
        chunk = Buffer.from(chunk);
        chunk[offset - seen] = (chunk[offset - seen] as number) ^ 0xff;
      }
      seen += chunk.length;
      done(null, chunk);
    },
  });
}

function errorBody(status: number): string {
  const code = status === 429 ? "TOOMANYREQUESTS" : status === 401 ? "UNAUTHORIZED" : "UNAVAILABLE";
  return JSON.stringify({ errors: [{ code, message: `injected by the tamper proxy (${status})` }] });
}

export async function startTamperProxy(o: TamperProxyOptions): Promise<TamperProxy> {
  const upstream = new URL(o.upstream).origin;
  const agent = new Agent({ connect: { ca: readFileSync(o.caFile) } });
  const cdn = await startBlobCdn({
    host: o.cdn?.host ?? o.host,
    port: o.cdn?.port,
    name: o.cdn?.name,
    cert: o.cert,
    key: o.key,
    dispatcher: agent,
  });
  const rules = new Map<string, TamperRule>();
  const seen: TamperedRequest[] = [];
  let origin = "";

  const takeRule = (method: string, path: string): TamperRule | undefined => {
    const last = path.split("?")[0]?.split("/").pop() ?? "";
    for (const key of [last, "*"]) {
      const rule = rules.get(key);
      if (!rule) continue;
      const methods =
        rule.methods ??
        (rule.kind === "status" || rule.kind === "delay" || rule.kind === "headers" ? undefined : ["GET"]);
      if (methods && !methods.includes(method)) continue;
      if (rule.times !== undefined && --rule.times <= 0) rules.delete(key);
      return rule;
    }
    return undefined;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = req.method ?? "GET";
    const path = req.url ?? "/";
    const rule = takeRule(method, path);
    const entry: TamperedRequest = {
      method,
      path,
      status: 0,
      ua: req.headers["user-agent"] ?? "",
      rule: rule?.kind ?? null,
      authorization: req.headers.authorization !== undefined,
    };
    seen.push(entry);
    if (rule?.kind === "status") {
      entry.status = rule.status;
      res.writeHead(rule.status, { "content-type": "application/json", ...rule.headers });
      res.end(rule.body ?? errorBody(rule.status));
      return;
    }
    if (rule?.kind === "delay") await new Promise((r) => setTimeout(r, rule.ms));
    const hasBody = method !== "GET" && method !== "HEAD";
    const up = await request(`${upstream}${path}`, {
      method: method as "GET",
      headers: forwardHeaders(req.headers),
      body: hasBody ? req : undefined,
      dispatcher: agent,
    });
    const ok = up.statusCode >= 200 && up.statusCode < 300;
    if (rule?.kind === "redirect" && ok) {
      up.body.on("error", () => {}).destroy(); // the CDN fetches it again, with the credentials this request carried
      entry.status = 307;
      res.writeHead(307, {
        location: cdn.offer(`${upstream}${path}`, req.headers.authorization),
        "content-length": "0",
      });
      res.end();
      return;
    }
    const headers = { ...forwardHeaders(up.headers), ...(rule?.kind === "headers" ? rule.headers : {}) };
    const location = headers.location;
    if (typeof location === "string" && location.startsWith(upstream))
      headers.location = origin + location.slice(upstream.length);
    entry.status = up.statusCode;
    res.writeHead(up.statusCode, headers);
    const length = Number(up.headers["content-length"] ?? Number.NaN);
    if (rule?.kind === "corrupt" && ok) {
      await pipeline(up.body, flipByte(Number.isFinite(length) ? Math.floor(length / 2) : 0), res);
    } else if (rule?.kind === "slow" && ok) {
      await pipeline(up.body, throttle(rule.bytesPerSecond), res);
    } else if (rule?.kind === "truncate" && ok) {
      const half = Number.isFinite(length) ? Math.floor(length / 2) : 1;
      let sent = 0;
      for await (const chunk of up.body as AsyncIterable<Buffer>) {
        const part = chunk.subarray(0, Math.max(0, half - sent));
        if (part.length > 0) res.write(part);
        sent += part.length;
        if (sent >= half) break; // leaving the loop destroys the upstream body
      }
      await new Promise((r) => setTimeout(r, 50)); // let the first half reach the client
      res.destroy(); // drops the connection mid-body
    } else {
      await pipeline(up.body, res);
    }
  };

  const server = await startHttpsTestServer({ ...o, port: o.port ?? 443 }, handle);
  const port = server.port;
  origin = `https://${o.host.includes(":") ? `[${o.host}]` : o.host}:${port}`;
  return {
    url: origin,
    cdn,
    mark: () => seen.length,
    requests: (since = 0) => seen.slice(since),
    count: (filter, since = 0) => seen.slice(since).filter((r) => matchesFilter(r, filter)).length,
    setRule: (digest, rule) => {
      rules.set(digest, { ...rule });
    },
    clear: () => rules.clear(),
    stop: async () => {
      await server.stop();
      await cdn.stop();
      await agent.destroy();
    },
  };
}
