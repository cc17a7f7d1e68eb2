import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AccessRules, groupsByUser, type RuleConfig } from "./access-rules.ts";
import { addressBytes, inCidr, parseCidr } from "./cidr.ts";

const who = (name?: string, groups: string[] = [], address?: string) => ({
  name,
  groups: new Set(groups),
  address,
});

describe("access rules", () => {
  it("first match wins; no match denies (property)", () => {
    const rule = fc.record({
      registry: fc.constantFrom("*", "ghcr.io", "docker.io"),
      repository: fc.constantFrom("*", "acme/*", "acme/app", "other/**"),
      allow: fc.subarray(["pull", "push", "delete"] as const).map((a) => [...a]),
      users: fc.option(fc.subarray(["alice", "bob", "ci-bot"]), { nil: undefined }),
      anonymous: fc.option(fc.boolean(), { nil: undefined }),
    });
    fc.assert(
      fc.property(
        fc.array(rule, { maxLength: 6 }),
        fc.constantFrom("ghcr.io", "docker.io"),
        fc.constantFrom("acme/app", "acme/x/y", "other/a/b", "zzz"),
        fc.constantFrom(undefined, "alice", "ci-bot"),
        (rules, registry, repository, name) => {
          const r = new AccessRules(rules as RuleConfig[]);
          const m = r.match(registry, repository, who(name));
          // each rule alone tells whether it matches; the answer is the first of those
          const first = rules.findIndex((one) =>
            new AccessRules([one as RuleConfig]).match(registry, repository, who(name)),
          );
          if (first < 0) expect(m).toBeUndefined();
          else expect(m).toEqual({ rule: first + 1, allow: rules[first]?.allow });
        },
      ),
    );
  });

  it("globs: * stays in a segment, ** crosses them", () => {
    const r = new AccessRules([{ registry: "ghcr.io", repository: "acme/*", allow: ["pull"] }]);
    expect(r.match("ghcr.io", "acme/app", who())).toBeDefined();
    expect(r.match("ghcr.io", "acme/app/sub", who())).toBeUndefined();
    expect(r.match("docker.io", "acme/app", who())).toBeUndefined();
    const deep = new AccessRules([{ registry: "*", repository: "acme/**", allow: ["pull"] }]);
    expect(deep.match("docker.io", "acme/app/sub", who())).toBeDefined();
  });

  it("users, groups and anonymous are alternatives; networks must hold as well", () => {
    const groups = groupsByUser({ ci: ["alice", "bob"] });
    expect(groups.get("bob")).toEqual(new Set(["ci"]));
    const r = new AccessRules([
      { registry: "*", repository: "*", allow: ["push"], groups: ["ci"], networks: ["10.0.0.0/8"] },
      { registry: "*", repository: "*", allow: ["pull"], anonymous: true },
      { registry: "*", repository: "*", allow: [], users: ["mallory"] },
    ]);
    expect(r.match("x", "a", who("bob", ["ci"], "10.1.2.3"))?.rule).toBe(1);
    expect(r.match("x", "a", who("bob", ["ci"], "::ffff:10.1.2.3"))?.rule).toBe(1);
    expect(r.match("x", "a", who("bob", ["ci"], "192.168.1.1"))).toBeUndefined();
    expect(r.match("x", "a", who(undefined, [], "192.168.1.1"))?.rule).toBe(2);
    expect(r.match("x", "a", who("mallory"))).toEqual({ rule: 3, allow: [] });
  });

  it("CIDR blocks over IPv4 and IPv6", () => {
    const v6 = parseCidr("fd00:1::/32");
    const v4 = parseCidr("172.16.0.0/12");
    if (!v6 || !v4) throw new Error("parse");
    expect(inCidr(addressBytes("fd00:1:2::5") as Uint8Array, v6)).toBe(true);
    expect(inCidr(addressBytes("fd00:2::5") as Uint8Array, v6)).toBe(false);
    expect(inCidr(addressBytes("172.31.255.1") as Uint8Array, v4)).toBe(true);
    expect(inCidr(addressBytes("172.32.0.1") as Uint8Array, v4)).toBe(false);
    expect(parseCidr("10.0.0.0/33")).toBeUndefined();
  });
});
