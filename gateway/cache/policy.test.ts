import { describe, expect, it } from "vitest";
import { RateLimits } from "./rate-limits.ts";
import { TagPolicy } from "./tag-policy.ts";

describe("tag freshness", () => {
  it("uses the first matching repository rule, else the registry TTL", () => {
    const p = new TagPolicy({
      tagTtl: 60_000,
      repositories: [
        { match: "library/*", tagTtl: 0 },
        { match: "pinned/**", tagTtl: Number.POSITIVE_INFINITY },
      ],
    });
    expect(p.ttlFor("library/alpine")).toBe(0);
    expect(p.isFresh("library/alpine", 0, 1)).toBe(false);
    expect(p.isFresh("pinned/a/b", 0, 1e15)).toBe(true);
    expect(p.isFresh("acme/app", 0, 59_999)).toBe(true);
    expect(p.isFresh("acme/app", 0, 60_000)).toBe(false);
  });
});

describe("Docker Hub rate limits", () => {
  it("parses ratelimit headers and reports a low allowance within the window", () => {
    let now = 0;
    const r = new RateLimits(() => now);
    r.record("docker.io", undefined, { limit: "100;w=21600", remaining: "8;w=21600" });
    expect(r.get("docker.io", undefined)).toMatchObject({
      limit: 100,
      remaining: 8,
      windowSeconds: 21600,
      account: "anonymous",
    });
    expect(r.isLow("docker.io", undefined, 10)).toBe(true);
    expect(r.isLow("docker.io", "bot", 10)).toBe(false);
    now = 21_601_000;
    expect(r.isLow("docker.io", undefined, 10)).toBe(false);
  });
});
