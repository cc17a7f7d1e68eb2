import { describe, expect, it } from "vitest";
import { isWharfError } from "../errors.ts";
import { RateLimits } from "./rate-limits.ts";
import { parseRange } from "./registry-backend.ts";
import { TagPolicy } from "./tag-policy.ts";

describe("single byte ranges", () => {
  it("parses start-end, open and suffix ranges", () => {
    expect(parseRange(undefined, 100)).toBeUndefined();
    expect(parseRange("bytes=0-9", 100)).toEqual({ start: 0, end: 9 });
    expect(parseRange("bytes=90-", 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange("bytes=-10", 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange("bytes=50-500", 100)).toEqual({ start: 50, end: 99 });
  });
  it.each(["bytes=100-", "bytes=5-1", "bytes=0-1,5-6", "items=0-1", "bytes=-"])(
    "refuses %s with 416",
    (h) => {
      try {
        parseRange(h, 100);
        expect.unreachable();
      } catch (e) {
        expect(isWharfError(e, "RANGE_INVALID")).toBe(true);
      }
    },
  );
});

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
