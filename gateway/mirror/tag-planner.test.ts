import { describe, expect, it } from "vitest";
import {
  historyTagName,
  historyTime,
  historyToPrune,
  needsTagList,
  parsePattern,
  selectTags,
  type TagPattern,
} from "./tag-planner.ts";

const patterns = (...p: string[]) => p.map((x) => parsePattern(x) as TagPattern);
const SOURCE = [
  "3.18",
  "3.19",
  "3.19.1",
  "3.20",
  "3.20.3",
  "3.21",
  "3.21.0-rc1",
  "3.21-alpine",
  "latest",
  "v3.22.0",
  "4.0",
  "3",
];

describe("tag planner", () => {
  it("tells exact tags, globs and semver ranges apart", () => {
    expect(parsePattern("3.20")?.kind).toBe("exact");
    expect(parsePattern("1.x")?.kind).toBe("exact");
    expect(parsePattern("3.21*")?.kind).toBe("glob");
    expect(parsePattern("{3.19,3.20}")?.kind).toBe("glob");
    expect(parsePattern(">=3.19 <4")?.kind).toBe("range");
    expect(parsePattern("^3.20")?.kind).toBe("range");
    expect(parsePattern("not a tag or range")).toBeUndefined();
    expect(needsTagList(patterns("3.20", "latest"))).toBe(false);
    expect(needsTagList(patterns("3.20", "3.21*"))).toBe(true);
  });

  it("exact tags are always planned (a HEAD tells whether they exist); globs match the source's list", () => {
    expect(selectTags(patterns("3.20", "nope"), [])).toEqual(["3.20", "nope"]);
    expect(selectTags(patterns("3.21*"), SOURCE)).toEqual(["3.21", "3.21-alpine", "3.21.0-rc1"]);
    expect(selectTags(patterns("3.1?"), SOURCE)).toEqual(["3.18", "3.19"]);
  });

  it("semver ranges match version tags only: no variants, no prereleases, two-part and v-prefixed tags count", () => {
    expect(selectTags(patterns(">=3.19 <4"), SOURCE)).toEqual([
      "3.19",
      "3.19.1",
      "3.20",
      "3.20.3",
      "3.21",
      "v3.22.0",
    ]);
    expect(selectTags(patterns("~3.20"), SOURCE)).toEqual(["3.20", "3.20.3"]);
    expect(selectTags(patterns(">=4"), SOURCE)).toEqual(["4.0"]);
    expect(selectTags(patterns("<3.1"), SOURCE)).toEqual(["3"]);
  });

  it("union of patterns, sorted, no duplicates", () => {
    expect(selectTags(patterns("3.20", "3.20*", "~3.20"), SOURCE)).toEqual(["3.20", "3.20.3"]);
  });

  it("names history tags by the UTC minute, resolving clashes with a counter", () => {
    const t = Date.UTC(2026, 10, 30, 6, 0, 42);
    expect(historyTime(t)).toBe("20261130T0600Z");
    const d = `sha256:${"ab".repeat(32)}`;
    expect(historyTagName("{tag}-{time}", "3.12", t, d, () => false)).toBe("3.12-20261130T0600Z");
    const taken = new Set(["3.12-20261130T0600Z", "3.12-20261130T0600Z-2"]);
    expect(historyTagName("{tag}-{time}", "3.12", t, d, (n) => taken.has(n))).toBe("3.12-20261130T0600Z-3");
    expect(historyTagName("old-{tag}.{date}.{digest}", "3.12", t, d, () => false)).toBe(
      "old-3.12.20261130.abababababab",
    );
    // a tag name has at most 128 characters (distribution spec)
    expect(historyTagName("{tag}-{time}", "x".repeat(127), t, d, () => false).length).toBeLessThanOrEqual(
      128,
    );
  });

  it("prunes history beyond keep, oldest first", () => {
    expect(historyToPrune(["c", "b", "a"], 2)).toEqual(["a"]);
    expect(historyToPrune(["c", "b", "a"], 0)).toEqual(["c", "b", "a"]);
    expect(historyToPrune(["a"], 10)).toEqual([]);
  });
});
