// The token endpoint through app.request(), mounted at TOKEN_PATH as the gateway mounts it, with a
// users file made by htpasswd -B: GET (several scopes, anonymous, Basic), containerd's OAuth POST,
// the refresh_token grant, wrong credentials; and no password or token in the log.
import { join } from "node:path";
import { Hono } from "hono";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTempDir, type TempDir } from "../../test/support/temp-dir.ts";
import { type CapturedLog, captureLog, htpasswd } from "./access.test-support.ts";
import { TOKEN_PATH } from "./authenticator.ts";
import { type ClosableAuthenticator, createAuthenticator } from "./create-authenticator.ts";

const PASSWORD = "s3cret-Pa55word";
let tmp: TempDir;
let auth: ClosableAuthenticator;
let captured: CapturedLog;
let app: Hono;
const issued: string[] = [];

const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

beforeAll(async () => {
  tmp = await makeTempDir("wharf-token-endpoint-");
  const file = join(tmp.path, "htpasswd");
  await htpasswd("-B", "-C", "5", "-b", "-c", file, "alice", PASSWORD);
  captured = captureLog(tmp.path);
  const created = await createAuthenticator({
    config: { access: { htpasswd: file }, dataDir: join(tmp.path, "data") },
    log: captured.log,
  });
  if (!created) throw new Error("expected an authenticator");
  auth = created;
  app = new Hono().route(TOKEN_PATH, auth.routes);
});
afterAll(async () => {
  auth?.close();
  await tmp.remove();
});

async function getToken(query: string, headers: Record<string, string> = {}) {
  const res = await app.request(`${TOKEN_PATH}?${query}`, {
    headers: { host: "registry.internal", ...headers },
  });
  const body = (await res.json()) as Record<string, unknown>;
  if (typeof body.token === "string") issued.push(body.token);
  return { res, body };
}

function postToken(form: Record<string, string | string[]>) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(form)) for (const one of [v].flat()) params.append(k, one);
  return app.request(TOKEN_PATH, { method: "POST", body: params, headers: { host: "registry.internal" } });
}

describe("token endpoint", () => {
  it("GET with Basic and several scopes: a token with every requested action for the user", async () => {
    const { res, body } = await getToken(
      "service=registry.internal&account=alice&scope=repository:team/app:pull,push" +
        "&scope=repository:library/base:pull&scope=registry:catalog:*&scope=repository:team/app:delete",
      { authorization: basic("alice", PASSWORD) },
    );
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(body.access_token).toBe(body.token);
    expect(body.expires_in).toBe(300);
    expect(Date.parse(body.issued_at as string)).toBeGreaterThan(Date.now() - 60_000);
    expect(decodeJwt(body.token as string)).toMatchObject({
      sub: "alice",
      aud: "registry.internal",
      access: [
        { type: "repository", name: "team/app", actions: ["pull", "push", "delete"] },
        { type: "repository", name: "library/base", actions: ["pull"] },
      ],
    });
    // The token opens what it carries, for the service it was issued for.
    const who = await auth.identify(`Bearer ${body.token}`, { host: "Registry.Internal" });
    expect(who?.identity).toEqual({ kind: "user", name: "alice" });
    expect(who?.may("push", "team/app")).toBe(true);
    expect(who?.may("push", "library/base")).toBe(false);
    await expect(auth.identify(`Bearer ${body.token}`, { host: "ghcr.io" })).rejects.toThrow(
      "invalid or expired token",
    );
  });

  it("GET without credentials: an anonymous token with pull only", async () => {
    const { res, body } = await getToken("service=registry.internal&scope=repository:team/app:pull,push");
    expect(res.status).toBe(200);
    const claims = decodeJwt(body.token as string);
    expect(claims.sub).toBeUndefined();
    expect(claims.access).toEqual([{ type: "repository", name: "team/app", actions: ["pull"] }]);
    const who = await auth.identify(`Bearer ${body.token}`, { host: "registry.internal" });
    expect(who?.identity).toEqual({ kind: "anonymous" });
    expect(who?.may("pull", "team/app")).toBe(true);
    expect(who?.may("push", "team/app")).toBe(false);
  });

  it("GET with a wrong password or an unknown user: the same 401, with a JSON body", async () => {
    const wrong = await getToken("service=registry.internal&scope=repository:team/app:push", {
      authorization: basic("alice", "nope"),
    });
    const unknown = await getToken("service=registry.internal&scope=repository:team/app:push", {
      authorization: basic("mallory", PASSWORD),
    });
    for (const { res } of [wrong, unknown]) {
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toBe('Basic realm="wharf"');
    }
    expect(wrong.body).toEqual({ errors: [{ code: "UNAUTHORIZED", message: "authentication failed" }] });
    expect(unknown.body).toEqual(wrong.body);
  });

  it("POST with containerd's OAuth2 password form", async () => {
    const res = await postToken({
      grant_type: "password",
      username: "alice",
      password: PASSWORD,
      service: "registry.internal",
      client_id: "containerd-client",
      scope: "repository:team/app:pull,push repository:library/base:pull",
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    issued.push(body.access_token as string);
    expect(body).toMatchObject({
      expires_in: 300,
      scope: "repository:team/app:pull,push repository:library/base:pull",
    });
    expect(typeof body.issued_at).toBe("string");
    const who = await auth.identify(`Bearer ${body.access_token}`, { host: "registry.internal" });
    expect(who?.may("push", "team/app")).toBe(true);
  });

  it("POST: refresh_token is unsupported (400, so clients fall back), wrong credentials get 401", async () => {
    const refresh = await postToken({
      grant_type: "refresh_token",
      refresh_token: "x",
      service: "registry.internal",
    });
    expect(refresh.status).toBe(400);
    expect(await refresh.json()).toMatchObject({ error: "unsupported_grant_type" });
    const missing = await postToken({ username: "alice", password: PASSWORD });
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ error: "invalid_request" });
    const bodies: unknown[] = [];
    for (const [username, password] of [
      ["alice", "nope"],
      ["mallory", PASSWORD],
    ]) {
      const res = await postToken({
        grant_type: "password",
        username,
        password,
        scope: "repository:a:push",
      } as Record<string, string>);
      expect(res.status).toBe(401);
      bodies.push(await res.json());
    }
    expect(bodies[0]).toEqual({ error: "invalid_grant", error_description: "authentication failed" });
    expect(bodies[1]).toEqual(bodies[0]);
  });

  it("never writes the password or a token to the log", async () => {
    // Everything above logged through the real logger; add the calls that carry secrets.
    await auth.identify(basic("alice", PASSWORD), { host: "registry.internal" });
    await auth.identify(basic("alice", `${PASSWORD}x`)).catch(() => undefined);
    expect(issued.length).toBe(3);
    const text = await captured.text();
    expect(text).toContain("token issued");
    expect(text).toContain("token request refused");
    for (const secret of [PASSWORD, Buffer.from(`alice:${PASSWORD}`).toString("base64"), ...issued]) {
      expect(text).not.toContain(secret);
      // Signatures alone would be enough to misuse nothing, but no part of a token belongs in a log.
      expect(text).not.toContain(secret.split(".")[2] ?? secret);
    }
  });
});
