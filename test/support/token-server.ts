// An in-process registry token server: the "Bearer realm" of Docker registry token auth
// (distribution docs: spec/auth/token.md, jwt.md). GET /token?service=S&scope=repository:NAME:ACTIONS
// with optional Basic auth, or POST /token (OAuth2 password grant, spec/auth/oauth.md). Tokens are
// ES256 JWTs signed with the TLS leaf key; header x5c = [leaf DER], which docker-registry checks
// against its `rootcertbundle` (the test CA).
import { randomUUID, sign } from "node:crypto";
import { readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";

export interface Scope {
  type: string;
  name: string;
  actions: string[];
}

export interface TokenRequest {
  /** null for anonymous requests. */
  user: string | null;
  service: string;
  scopes: string[];
  ua: string;
  method: string;
  /** What the request got: 200, or 401 for bad / missing credentials. */
  status: number;
}

export interface TokenServerOptions {
  host: string;
  /** Default 0 (a free port). */
  port?: number;
  cert: string;
  key: string;
  issuer: string;
  /** Known users (user -> password); wrong credentials get 401. */
  users?: Record<string, string>;
  /** false: anonymous requests get 401 instead of a token. Default true. */
  anonymous?: boolean;
  /** Actions granted to `user` (null: anonymous) for a requested scope; default: all requested. */
  allow?: (user: string | null, scope: Scope) => string[];
  /** Token lifetime, default 300 s. */
  ttlSeconds?: number;
  /**
   * A JSON file (TokenGrants) read on every request, so a test changes users and grants while the
   * server runs; absent or unreadable: `users` and `allow` alone.
   */
  grantsFile?: string;
}

/** Who gets what, for some services only (the other services keep `allow` / everything requested). */
export interface TokenGrants {
  /** More users (user -> password) besides TokenServerOptions.users. */
  users?: Record<string, string>;
  /** The services (the registry's `service`) these grants govern. */
  services: string[];
  /** First match wins per user; `users` holds names, "" for anonymous, "*" for everyone. */
  grants: { repository: string; users: string[]; actions: string[] }[];
}

function readGrants(file: string | undefined): TokenGrants | undefined {
  if (!file) return undefined;
  try {
    return JSON.parse(readFileSync(file, "utf8")) as TokenGrants;
  } catch {
    return undefined;
  }
}

/** A repository glob: `*` within one path segment, `**` across segments. */
function globMatches(glob: string, name: string): boolean {
  const re = glob
    .split("**")
    .map((part) =>
      part
        .split("*")
        .map((t) => t.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
        .join("[^/]*"),
    )
    .join(".*");
  return new RegExp(`^${re}$`).test(name);
}

function granted(g: TokenGrants, user: string | null, scope: Scope): string[] {
  for (const rule of g.grants) {
    if (!globMatches(rule.repository, scope.name)) continue;
    if (!rule.users.some((u) => u === "*" || u === (user ?? ""))) continue;
    return scope.actions.filter((a) => rule.actions.includes(a));
  }
  return [];
}

export interface TokenServer {
  /** https://host:port, the realm is `${url}/token`. */
  url: string;
  port: number;
  /** Every request so far, in order (a live array). */
  requests: TokenRequest[];
  stop(): Promise<void>;
}

const b64url = (data: string | Buffer): string => Buffer.from(data).toString("base64url");

export function parseScope(text: string): Scope | undefined {
  const parts = text.split(":");
  if (parts.length < 3) return undefined;
  const type = parts[0] as string;
  const actions = (parts.pop() as string).split(",").filter(Boolean);
  return { type, name: parts.slice(1).join(":"), actions };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => {
      data += c;
    });
    req.on("end", () => resolve(data));
    req.on("error", reject);
  });
}

export async function startTokenServer(o: TokenServerOptions): Promise<TokenServer> {
  const certPem = readFileSync(o.cert, "utf8");
  const keyPem = readFileSync(o.key, "utf8");
  const der = Buffer.from(certPem.replace(/-----[^-]+-----|\s/g, ""), "base64");
  const header = b64url(JSON.stringify({ alg: "ES256", typ: "JWT", x5c: [der.toString("base64")] }));
  const requests: TokenRequest[] = [];

  const token = (
    user: string | null,
    service: string,
    scopes: Scope[],
    g: TokenGrants | undefined,
  ): string => {
    const now = Math.floor(Date.now() / 1000);
    const governed = g?.services.includes(service) ? g : undefined;
    const actionsFor = (s: Scope) =>
      governed ? granted(governed, user, s) : o.allow ? o.allow(user, s) : s.actions;
    const access = scopes
      .map((s) => ({ type: s.type, name: s.name, actions: actionsFor(s) }))
      .filter((a) => a.actions.length > 0);
    const claims = { iss: o.issuer, sub: user ?? "", aud: service, exp: now + (o.ttlSeconds ?? 300) };
    const body = b64url(JSON.stringify({ ...claims, nbf: now - 10, iat: now, jti: randomUUID(), access }));
    // JWS ES256 signatures are r||s (RFC 7518 §3.4), not DER
    const sig = sign("sha256", Buffer.from(`${header}.${body}`), { key: keyPem, dsaEncoding: "ieee-p1363" });
    return `${header}.${body}.${b64url(sig)}`;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "https://token.invalid");
    let params = url.searchParams;
    let user: string | null = null;
    let password = "";
    const auth = req.headers.authorization ?? "";
    if (auth.startsWith("Basic ")) {
      const decoded = Buffer.from(auth.slice(6), "base64").toString("utf8");
      const colon = decoded.indexOf(":");
      user = colon < 0 ? decoded : decoded.slice(0, colon);
      password = colon < 0 ? "" : decoded.slice(colon + 1);
    }
    if (req.method === "POST") {
      params = new URLSearchParams(await readBody(req));
      if (params.get("grant_type") === "password") {
        user = params.get("username");
        password = params.get("password") ?? "";
      }
    }
    const scopes = params
      .getAll("scope")
      .flatMap((s) => s.split(" "))
      .filter(Boolean);
    const service = params.get("service") ?? "";
    const entry: TokenRequest = {
      user,
      service,
      scopes,
      ua: req.headers["user-agent"] ?? "",
      method: req.method ?? "",
      status: 200,
    };
    requests.push(entry);
    const grants = readGrants(o.grantsFile);
    const users = { ...o.users, ...grants?.users };
    const known = user !== null && Object.hasOwn(users, user) && users[user] === password;
    const rejected = url.pathname !== "/token" || (user !== null ? !known : o.anonymous === false);
    if (rejected) {
      entry.status = url.pathname !== "/token" ? 404 : 401;
      res.writeHead(entry.status, {
        "www-authenticate": 'Basic realm="wharf-test-token"',
        "content-type": "application/json",
      });
      res.end(JSON.stringify({ errors: [{ code: "UNAUTHORIZED", message: "authentication required" }] }));
      return;
    }
    const parsed = scopes.map(parseScope).filter((s): s is Scope => s !== undefined);
    const t = token(user, service, parsed, grants);
    res.writeHead(200, { "content-type": "application/json" });
    const issuedAt = new Date().toISOString();
    res.end(
      JSON.stringify({ token: t, access_token: t, expires_in: o.ttlSeconds ?? 300, issued_at: issuedAt }),
    );
  };

  const server: Server = createServer({ cert: certPem, key: keyPem }, (req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port ?? 0, o.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = o.host.includes(":") ? `[${o.host}]` : o.host;
  return {
    url: `https://${host}:${port}`,
    port,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
