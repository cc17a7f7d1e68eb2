// The Docker token flow with real clients, before the HTTP layer uses the Authenticator: a TLS
// server (test CA) mounts the token endpoint at TOKEN_PATH and guards a few registry routes the way
// the registry app will (401 + challenge → token → Bearer). skopeo login and curl follow it.
import { readFile } from "node:fs/promises";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { serve } from "@hono/node-server";
import { type Context, Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isWharfError } from "../../common/errors.ts";
import { htpasswd } from "../../gateway/access/access.test-support.ts";
import { type Action, TOKEN_PATH } from "../../gateway/access/authenticator.ts";
import {
  type ClosableAuthenticator,
  createAuthenticator,
} from "../../gateway/access/create-authenticator.ts";
import { silentLogger } from "../../gateway/log.ts";
import { parseWwwAuthenticate } from "../../gateway/oci/www-authenticate.ts";
import { loopbackIp } from "../support/ports.ts";
import { runCommand } from "../support/run-command.ts";
import { runSkopeo } from "../support/skopeo.ts";
import { makeTempDir, type TempDir } from "../support/temp-dir.ts";
import { makeTestCa, type TestCa } from "../support/test-ca.ts";

const NAME = "registry.internal";
const PASSWORD = "login-test-Pa55";
let tmp: TempDir;
let ca: TestCa;
let ip: string;
let host: string;
let auth: ClosableAuthenticator;
let server: ReturnType<typeof serve>;
const seen: { method: string; path: string; authorization: string }[] = [];

/** What the registry app will do: identify, then 401 with a challenge unless `action` is allowed. */
async function guard(c: Context, action: Action, repository?: string): Promise<Response | undefined> {
  const header = c.req.header("authorization");
  const reached = c.req.header("host") ?? "";
  const scope = repository ? { repository, actions: [action] } : undefined;
  const deny = (error?: "invalid_token" | "insufficient_scope") =>
    c.json({ errors: [{ code: "UNAUTHORIZED", message: "authentication required" }] }, 401, {
      "www-authenticate": auth.challenge({
        host: reached,
        ...(scope ? { scope } : {}),
        ...(error ? { error } : {}),
      }),
    });
  try {
    const who = await auth.identify(header, { host: reached });
    if (!who) return deny();
    if (repository && !who.may(action, repository)) return deny("insufficient_scope");
    return undefined;
  } catch (e) {
    if (!isWharfError(e, "UNAUTHORIZED")) throw e;
    return deny(/^bearer /i.test(header ?? "") ? "invalid_token" : undefined);
  }
}

beforeAll(async () => {
  tmp = await makeTempDir("wharf-e2e-login-");
  ip = loopbackIp();
  ca = await makeTestCa(join(tmp.path, "pki"), { dnsNames: [NAME], ips: [] });
  const file = join(tmp.path, "htpasswd");
  await htpasswd("-B", "-C", "8", "-b", "-c", file, "alice", PASSWORD);
  const created = await createAuthenticator({
    config: { access: { htpasswd: file }, dataDir: join(tmp.path, "data") },
    log: silentLogger,
  });
  if (!created) throw new Error("expected an authenticator");
  auth = created;
  const app = new Hono();
  app.use(async (c, next) => {
    seen.push({ method: c.req.method, path: c.req.path, authorization: c.req.header("authorization") ?? "" });
    await next();
  });
  app.route(TOKEN_PATH, auth.routes);
  app.get("/v2/", async (c) => (await guard(c, "pull")) ?? c.json({}));
  app.get("/v2/:name{.+}/tags/list", async (c) => {
    const name = c.req.param("name");
    return (await guard(c, "pull", name)) ?? c.json({ name, tags: [] });
  });
  app.post(
    "/v2/:name{.+}/blobs/uploads/",
    async (c) => (await guard(c, "push", c.req.param("name"))) ?? c.body(null, 202),
  );
  const [cert, key] = await Promise.all([readFile(ca.cert), readFile(ca.key)]);
  await new Promise<void>((resolve) => {
    server = serve(
      { fetch: app.fetch, createServer, serverOptions: { cert, key }, hostname: ip, port: 0 },
      () => resolve(),
    );
  });
  host = `${NAME}:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((r) => server?.close(r));
  auth?.close();
  await tmp.remove();
});

/** curl against the test server with the test CA: status, headers (lower-case) and body. */
async function curl(url: string, args: string[] = []) {
  const port = host.split(":")[1];
  const { stdout } = await runCommand([
    "curl",
    "-sS",
    "--cacert",
    ca.caCert,
    "--resolve",
    `${NAME}:${port}:${ip}`,
    "-D",
    "-",
    ...args,
    url,
  ]);
  const [head = "", body = ""] = stdout.split(/\r\n\r\n/, 2);
  const lines = head.split("\r\n");
  const status = Number(lines[0]?.split(" ")[1]);
  const headers = Object.fromEntries(
    lines.slice(1).map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]),
  );
  return { status, headers, body };
}

describe("registry login through wharf's token endpoint", () => {
  it("skopeo login follows the challenge to a token; a wrong password is refused", async () => {
    const hosts = { [NAME]: ip };
    const ok = await runSkopeo(["login", "--cert-dir", ca.certDir, "-u", "alice", "-p", PASSWORD, host], {
      hosts,
    });
    expect(ok.stdout).toContain("Login Succeeded");
    const tokenRequest = seen.find((r) => r.path === TOKEN_PATH && r.authorization.startsWith("Basic "));
    expect(tokenRequest?.method).toBe("GET");
    // The retried ping carried wharf's token.
    expect(seen.some((r) => r.path === "/v2/" && r.authorization.startsWith("Bearer "))).toBe(true);
    const bad = await runSkopeo(["login", "--cert-dir", ca.certDir, "-u", "alice", "-p", "wrong", host], {
      hosts,
      allowFailure: true,
    });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("invalid username/password");
  });

  it("curl: challenge → token with the challenge's scope → Bearer; an anonymous token cannot push", async () => {
    const url = `https://${host}/v2/team/app/blobs/uploads/`;
    const first = await curl(url, ["-X", "POST"]);
    expect(first.status).toBe(401);
    const [challenge] = parseWwwAuthenticate(first.headers["www-authenticate"]);
    expect(challenge?.params).toEqual({
      realm: `https://${host}${TOKEN_PATH}`,
      service: host,
      scope: "repository:team/app:push",
    });
    const realm = new URL(challenge?.params.realm as string);
    realm.searchParams.set("service", challenge?.params.service as string);
    realm.searchParams.append("scope", challenge?.params.scope as string);
    realm.searchParams.append("scope", "repository:team/base:pull");

    const anon = JSON.parse((await curl(realm.href)).body) as { token: string };
    const refused = await curl(url, ["-X", "POST", "-H", `Authorization: Bearer ${anon.token}`]);
    expect(refused.status).toBe(401);
    expect(refused.headers["www-authenticate"]).toContain('error="insufficient_scope"');

    const user = await curl(realm.href, ["-u", `alice:${PASSWORD}`]);
    expect(user.status).toBe(200);
    const { token } = JSON.parse(user.body) as { token: string };
    expect((await curl(url, ["-X", "POST", "-H", `Authorization: Bearer ${token}`])).status).toBe(202);
    // Basic on the registry request works too.
    expect((await curl(url, ["-X", "POST", "-u", `alice:${PASSWORD}`])).status).toBe(202);
    const wrong = await curl(realm.href, ["-u", "alice:wrong"]);
    expect(wrong.status).toBe(401);
    expect(wrong.body).not.toContain("alice");
    // A token from another wharf (or a stale one after the key was replaced) asks for a new token.
    const foreign = await curl(url, [
      "-X",
      "POST",
      "-H",
      "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.AAAA",
    ]);
    expect(foreign.status).toBe(401);
    expect(foreign.headers["www-authenticate"]).toContain('error="invalid_token"');
  });
});
