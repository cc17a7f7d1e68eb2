// TokenService: tokens round-trip, expire on the injected clock, stay bound to their service, and a
// token signed with another wharf's key is refused. The key file is private and survives restarts.
import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isWharfError, type WharfError } from "../../common/errors.ts";
import { makeTempDir, type TempDir } from "../../test/support/temp-dir.ts";
import { silentLogger } from "../log.ts";
import { TOKEN_ISSUER, TOKEN_KEY_FILE, TokenService } from "./token-service.ts";

let tmp: TempDir;
beforeAll(async () => {
  tmp = await makeTempDir("wharf-tokens-");
});
afterAll(() => tmp.remove());

const alice = { kind: "user", name: "alice" } as const;
const access = [{ repository: "team/app", actions: ["pull", "push"] as ("pull" | "push")[] }];

function clock(start = Date.parse("2026-01-01T00:00:00Z")) {
  let now = start;
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

async function refused(p: Promise<unknown>): Promise<WharfError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(isWharfError(e, "UNAUTHORIZED"), String(e)).toBe(true);
  return e as WharfError;
}

describe("TokenService", () => {
  it("issues tokens in distribution's claim shape and verifies them", async () => {
    const c = clock();
    const tokens = await TokenService.open({ dataDir: join(tmp.path, "a"), log: silentLogger, now: c.now });
    const { token, expiresIn, issuedAt } = await tokens.issue(alice, "registry.internal", access);
    expect(expiresIn).toBe(300);
    expect(issuedAt.toISOString()).toBe("2026-01-01T00:00:00.000Z");
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({
      iss: TOKEN_ISSUER,
      sub: "alice",
      aud: "registry.internal",
      iat: c.now() / 1000,
      exp: c.now() / 1000 + 300,
      access: [{ type: "repository", name: "team/app", actions: ["pull", "push"] }],
    });
    expect(typeof claims.jti).toBe("string");
    expect(await tokens.verify(token, "registry.internal")).toEqual({
      identity: alice,
      service: "registry.internal",
      access,
      refused: [],
    });
    const anon = await tokens.issue({ kind: "anonymous" }, "registry.internal", []);
    expect(decodeJwt(anon.token).sub).toBeUndefined();
    expect((await tokens.verify(anon.token)).identity).toEqual({ kind: "anonymous" });
  });

  it("refuses expired tokens, tokens for another service, and tampered ones", async () => {
    const c = clock();
    const tokens = await TokenService.open({ dataDir: join(tmp.path, "b"), log: silentLogger, now: c.now });
    const { token } = await tokens.issue(alice, "registry.internal", access);
    await refused(tokens.verify(token, "ghcr.io"));
    const [h, p, s] = token.split(".");
    const forged = Buffer.from(JSON.stringify({ ...decodeJwt(token), sub: "admin" })).toString("base64url");
    await refused(tokens.verify(`${h}.${forged}.${s}`));
    await refused(tokens.verify(`${h}.${p}`));
    c.advance(299_000);
    await tokens.verify(token, "registry.internal");
    c.advance(2_000);
    const e = await refused(tokens.verify(token, "registry.internal"));
    expect(e.detail).toEqual({ reason: "ERR_JWT_EXPIRED" });
    expect(e.message).not.toContain(token);
  });

  it("refuses a token from another wharf (another key)", async () => {
    const ours = await TokenService.open({ dataDir: join(tmp.path, "c"), log: silentLogger });
    const theirs = await TokenService.open({ dataDir: join(tmp.path, "d"), log: silentLogger });
    const { token } = await theirs.issue(alice, "registry.internal", access);
    const e = await refused(ours.verify(token, "registry.internal"));
    expect(e.detail).toEqual({ reason: "ERR_JWS_SIGNATURE_VERIFICATION_FAILED" });
  });

  it("keeps its key in dataDir with mode 0600 and reuses it after a restart", async () => {
    const dataDir = join(tmp.path, "e");
    const first = await TokenService.open({ dataDir, log: silentLogger });
    const keyFile = join(dataDir, TOKEN_KEY_FILE);
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    const key = await readFile(keyFile, "utf8");
    const { token } = await first.issue(alice, "wharf:5000", access);
    const second = await TokenService.open({ dataDir, log: silentLogger });
    expect(await readFile(keyFile, "utf8")).toBe(key);
    expect((await second.verify(token, "wharf:5000")).identity).toEqual(alice);
    // Two starting at once agree on one key.
    const both = await Promise.all([
      TokenService.open({ dataDir: join(tmp.path, "f"), log: silentLogger }),
      TokenService.open({ dataDir: join(tmp.path, "f"), log: silentLogger }),
    ]);
    const t = await both[0].issue(alice, "x", access);
    expect((await both[1].verify(t.token, "x")).identity).toEqual(alice);
  });

  it("refuses to start on a damaged key file instead of making tokens with it", async () => {
    const dataDir = join(tmp.path, "g");
    await TokenService.open({ dataDir, log: silentLogger });
    await writeFile(join(dataDir, TOKEN_KEY_FILE), "short\n");
    await expect(TokenService.open({ dataDir, log: silentLogger })).rejects.toSatisfy((e) =>
      isWharfError(e, "CONFIG_INVALID"),
    );
  });
});
