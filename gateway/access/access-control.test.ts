// AccessControl.mayPullNow: what a pusher's blob link relies on (routes-pull.ts linkForPusher) —
// the rules and a robot token's scope, and on an `access: upstream` registry a rule naming the
// identity or a fresh allowed upstream answer for this client, never a new upstream check.
// hasLocalIdentities: whether `/v2/` asks for a login (users or live robot tokens).
import { DatabaseSync } from "node:sqlite";
import { describe, expect, it } from "vitest";
import { silentLogger } from "../log.ts";
import type { UpstreamClient } from "../upstream/upstream-client.ts";
import { AccessControl } from "./access-control.ts";
import { AccessPolicy } from "./access-policy.ts";
import { DecisionCache } from "./decision-cache.ts";
import { parseRobotScope, RobotTokens } from "./robot-tokens.ts";
import { UpstreamAccess } from "./upstream-access.ts";

const registries = {
  "ghcr.io": { upstream: "https://ghcr.io" },
  "registry.gitlab.com": { upstream: "https://registry.gitlab.com", access: "upstream" },
} as never;

function robots() {
  const db = new DatabaseSync(":memory:");
  db.exec(`CREATE TABLE robot_tokens (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, secret_sha256 TEXT NOT NULL,
    scopes TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER)`);
  return new RobotTokens({ connection: db });
}

function control(opts: { rules?: unknown[]; robots?: RobotTokens; now?: () => number } = {}) {
  const now = opts.now ?? (() => 1000);
  const cache = new DecisionCache({ ttlMs: 10_000, staleMs: 60_000, now });
  // the upstream is never asked by the calls under test: mayPullNow reads the cache only
  const neverAsked = {} as UpstreamClient;
  const gitlab = new UpstreamAccess({
    registry: "registry.gitlab.com",
    upstream: neverAsked,
    cache,
    log: silentLogger,
  });
  const c = new AccessControl({
    policy: new AccessPolicy({ rules: opts.rules as never, groups: { ci: ["carol"] } }, registries),
    ...(opts.robots && { robots: opts.robots }),
    upstreams: new Map([["registry.gitlab.com", gitlab]]),
    now,
  });
  return { c, cache };
}

const alice = { identity: { kind: "user" as const, name: "alice" } };

describe("mayPullNow", () => {
  it("follows the rules, first match wins, and a robot token's scope caps them", () => {
    const { c } = control({
      rules: [
        { registry: "ghcr.io", repository: "private/**", allow: [], users: ["alice"] },
        { registry: "ghcr.io", repository: "**", allow: ["pull"], users: ["alice", "ci-bot"] },
      ],
    });
    expect(c.mayPullNow(alice, "10.0.0.1", "ghcr.io", "acme/app")).toBe(true);
    expect(c.mayPullNow(alice, "10.0.0.1", "ghcr.io", "private/app")).toBe(false);
    const bot = {
      identity: { kind: "robot" as const, name: "ci-bot", id: "x" },
      robotScopes: [parseRobotScope("ghcr.io/acme/*:pull")],
    };
    expect(c.mayPullNow(bot, "10.0.0.1", "ghcr.io", "acme/app")).toBe(true);
    expect(c.mayPullNow(bot, "10.0.0.1", "ghcr.io", "other/app")).toBe(false);
  });

  it("on an access: upstream registry: a rule naming the identity, or a fresh allowed answer for its address", () => {
    const { c, cache } = control({
      rules: [{ registry: "registry.gitlab.com", repository: "shared/**", allow: ["pull"], groups: ["ci"] }],
    });
    const carol = { identity: { kind: "user" as const, name: "carol" } };
    expect(c.mayPullNow(carol, "10.0.0.2", "registry.gitlab.com", "shared/app")).toBe(true);
    // no rule names alice there, and the upstream has not answered for her address: no
    expect(c.mayPullNow(alice, "10.0.0.1", "registry.gitlab.com", "group/app")).toBe(false);
    const key = cache.clientKey("registry.gitlab.com", { address: "10.0.0.1" });
    cache.put(`${key}\0group/app`, { allowed: true, status: 200, reason: "upstream 200" });
    expect(c.mayPullNow(alice, "10.0.0.1", "registry.gitlab.com", "group/app")).toBe(true);
    expect(c.mayPullNow(alice, "10.0.0.9", "registry.gitlab.com", "group/app")).toBe(false);
    expect(c.mayPullNow(alice, undefined, "registry.gitlab.com", "group/app")).toBe(false);
    // a refusal is not an allow
    cache.put(`${key}\0group/other`, { allowed: false, status: 403, reason: "upstream 403" });
    expect(c.mayPullNow(alice, "10.0.0.1", "registry.gitlab.com", "group/other")).toBe(false);
  });
});

describe("hasLocalIdentities", () => {
  it("is true once a robot token is live, false again when it expired or was revoked", () => {
    let now = 1000;
    const tokens = robots();
    const { c } = control({ robots: tokens, now: () => now });
    expect(c.hasLocalIdentities()).toBe(false);
    tokens.create({ name: "ci-bot", scopes: [parseRobotScope("ghcr.io/*:pull")], expiresAt: 2000, now });
    expect(c.hasLocalIdentities()).toBe(true);
    now = 2000;
    expect(c.hasLocalIdentities()).toBe(false);
    tokens.create({ name: "other", scopes: [parseRobotScope("ghcr.io/*:pull")], expiresAt: null, now });
    expect(c.hasLocalIdentities()).toBe(true);
    tokens.revoke("other");
    expect(c.hasLocalIdentities()).toBe(false);
  });
});
