// createAuthenticator as the HTTP layer uses it: identify() for each kind of Authorization header,
// challenge() for each listener, and the `access` config section that turns it on.
import { writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isWharfError } from "../../common/errors.ts";
import { makeTempDir, type TempDir } from "../../test/support/temp-dir.ts";
import { buildConfig } from "../config/load-config.ts";
import { silentLogger } from "../log.ts";
import { parseWwwAuthenticate } from "../oci/www-authenticate.ts";
import { htpasswd } from "./access.test-support.ts";
import { type ClosableAuthenticator, createAuthenticator } from "./create-authenticator.ts";

let tmp: TempDir;
let auth: ClosableAuthenticator;
let now = Date.parse("2026-03-01T12:00:00Z");
const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

beforeAll(async () => {
  tmp = await makeTempDir("wharf-authenticator-");
  const file = join(tmp.path, "htpasswd");
  await htpasswd("-B", "-C", "5", "-b", "-c", file, "alice", "pw:with:colons");
  const created = await createAuthenticator({
    config: { access: { htpasswd: file }, dataDir: join(tmp.path, "data") },
    log: silentLogger,
    now: () => now,
  });
  if (!created) throw new Error("expected an authenticator");
  auth = created;
});
afterAll(async () => {
  auth?.close();
  await tmp.remove();
});

async function unauthorized(header: string, host?: string): Promise<void> {
  const e = await auth.identify(header, host === undefined ? {} : { host }).catch((err: unknown) => err);
  expect(isWharfError(e, "UNAUTHORIZED"), String(e)).toBe(true);
}

describe("createAuthenticator", () => {
  it("is undefined without an access section: no users, the HTTP layer refuses pushes", async () => {
    expect(await createAuthenticator({ config: { dataDir: tmp.path }, log: silentLogger })).toBeUndefined();
  });

  it("identifies Basic users and refuses bad or malformed credentials", async () => {
    expect(await auth.identify(undefined)).toBeUndefined();
    expect(await auth.identify("")).toBeUndefined();
    const who = await auth.identify(basic("alice", "pw:with:colons"));
    expect(who?.identity).toEqual({ kind: "user", name: "alice" });
    expect(who?.may("push", "team/app")).toBe(true);
    expect(who?.may("delete", "team/app")).toBe(true);
    await unauthorized(basic("alice", "pw"));
    await unauthorized(basic("bob", "pw:with:colons"));
    await unauthorized("Basic not-base64!");
    await unauthorized(`Basic ${Buffer.from("no-colon").toString("base64")}`);
    await unauthorized("Bearer");
    await unauthorized("Negotiate abc");
  });

  it("identifies Bearer tokens until they expire", async () => {
    const res = await auth.routes.request(
      "/?service=wharf:5000&scope=repository:registry.internal/app:push",
      {
        headers: { authorization: basic("alice", "pw:with:colons") },
      },
    );
    const { token } = (await res.json()) as { token: string };
    const who = await auth.identify(`bearer ${token}`, { host: "wharf:5000" });
    expect(who?.may("push", "registry.internal/app")).toBe(true);
    expect(who?.may("pull", "registry.internal/app")).toBe(false);
    now += 301_000;
    await unauthorized(`Bearer ${token}`, "wharf:5000");
    await unauthorized("Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl");
  });

  it("challenges with the realm on the listener the client reached", () => {
    const tls = auth.challenge({
      host: "Registry.Internal",
      scope: { repository: "team/app", actions: ["pull", "push"] },
    });
    expect(tls).toBe(
      'Bearer realm="https://registry.internal/auth/token",service="registry.internal",scope="repository:team/app:pull,push"',
    );
    const plain = auth.challenge({ host: "wharf:5000", scheme: "http", error: "invalid_token" });
    expect(parseWwwAuthenticate(plain)).toEqual([
      {
        scheme: "bearer",
        params: { realm: "http://wharf:5000/auth/token", service: "wharf:5000", error: "invalid_token" },
      },
    ]);
  });
});

describe("access config", () => {
  it("is optional, strict, and resolves htpasswd like dataDir", async () => {
    expect(buildConfig({}).config.access).toBeUndefined();
    const { config } = buildConfig({ access: { htpasswd: "users/htpasswd" } });
    expect(config.access?.htpasswd).toBe(resolve("users/htpasswd"));
    expect(() => buildConfig({ access: { htpasswd: "x", rulez: [] } })).toThrow(
      /access: unknown key "rulez"/,
    );
    // issue 16: an access section may hold only robot tokens and rules
    expect(buildConfig({ access: {} }).config.access?.htpasswd).toBeUndefined();
  });

  it("stops start-up on a users file that cannot be read", async () => {
    const file = join(tmp.path, "bad-htpasswd");
    await writeFile(file, "just-a-line\n");
    await expect(
      createAuthenticator({ config: { access: { htpasswd: file }, dataDir: tmp.path }, log: silentLogger }),
    ).rejects.toThrow(/access.htpasswd: .*line 1/);
  });
});
