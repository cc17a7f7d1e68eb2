import { DatabaseSync } from "node:sqlite";
import { describe, expect, it } from "vitest";
import { DecisionCache } from "./decision-cache.ts";
import { parseRobotScope, RobotTokens } from "./robot-tokens.ts";

function store() {
  const db = new DatabaseSync(":memory:");
  db.exec(`CREATE TABLE robot_tokens (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, secret_sha256 TEXT NOT NULL,
    scopes TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER)`);
  return { db, tokens: new RobotTokens({ connection: db }) };
}

describe("robot tokens", () => {
  it("stores only a hash; verifies the token, its name and expiry; revocation holds at once", () => {
    const { db, tokens } = store();
    const text = tokens.create({
      name: "ci-bot",
      scopes: [parseRobotScope("ghcr.io/acme/*:pull")],
      expiresAt: 5000,
      now: 0,
    });
    const dump = JSON.stringify(db.prepare("SELECT * FROM robot_tokens").all());
    // wharf_<id>_<secret>: the secret is base64url and may itself contain "_"
    expect(dump).not.toContain(text.split("_").slice(2).join("_"));
    expect(tokens.verify(text, "ci-bot", 10)?.scopes).toEqual([
      { registry: "ghcr.io", repository: "acme/*", actions: ["pull"] },
    ]);
    expect(tokens.verify(text, undefined, 10)?.name).toBe("ci-bot");
    expect(tokens.verify(text, "other", 10)).toBeUndefined();
    const last = text.at(-1) === "A" ? "B" : "A"; // a different character, whatever the random secret ends with
    expect(tokens.verify(`${text.slice(0, -1)}${last}`, "ci-bot", 10)).toBeUndefined();
    expect(tokens.verify(text, "ci-bot", 5000)).toBeUndefined();
    expect(tokens.list().map((t) => t.name)).toEqual(["ci-bot"]);
    expect(tokens.revoke("ci-bot")).toBe(true);
    expect(tokens.verify(text, "ci-bot", 10)).toBeUndefined();
    expect(() => parseRobotScope("acme:pull")).toThrow(/--scope/);
    expect(() => parseRobotScope("ghcr.io/acme/*:write")).toThrow(/--scope/);
  });
});

describe("decision cache", () => {
  it("keeps answers for the TTL, allowed ones for the stale window, and never the password", () => {
    let now = 0;
    const c = new DecisionCache({ ttlMs: 1000, staleMs: 5000, now: () => now });
    const key = c.clientKey("registry.gitlab.com", { user: "alice", password: "s3cret-pw" });
    expect(key).not.toContain("s3cret");
    expect(key).not.toBe(c.clientKey("registry.gitlab.com", { user: "alice", password: "other" }));
    c.put(`${key}/a`, { allowed: true, status: 200, reason: "upstream 200" });
    c.put(`${key}/b`, { allowed: false, status: 403, reason: "upstream 403" });
    expect(c.fresh(`${key}/a`)?.allowed).toBe(true);
    now = 1500;
    expect(c.fresh(`${key}/a`)).toBeUndefined();
    expect(c.fresh(`${key}/b`)).toBeUndefined();
    expect(c.staleAllowed(`${key}/a`)?.allowed).toBe(true);
    expect(c.staleAllowed(`${key}/b`)).toBeUndefined();
    now = 7000;
    expect(c.staleAllowed(`${key}/a`)).toBeUndefined();
  });
});
