import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isWharfError } from "../../common/errors.ts";
import { contentRange, parseRangeHeader, resolveRange } from "./range-header.ts";

/** Parse then resolve, as a request handler does: undefined = whole body. */
function select(header: string | undefined, size: number) {
  const req = parseRangeHeader(header);
  return req && resolveRange(req, size);
}

function rangeError(f: () => unknown): Record<string, string> | undefined {
  try {
    f();
  } catch (e) {
    if (isWharfError(e, "RANGE_INVALID")) return e.headers;
    throw e;
  }
  return undefined;
}

describe("Range header", () => {
  it("selects start-end, open and suffix ranges, clamped to the size", () => {
    expect(select(undefined, 100)).toBeUndefined();
    expect(select("bytes=0-9", 100)).toEqual({ start: 0, end: 9 });
    expect(select("bytes=90-", 100)).toEqual({ start: 90, end: 99 });
    expect(select("bytes=-10", 100)).toEqual({ start: 90, end: 99 });
    expect(select("bytes=-1000", 100)).toEqual({ start: 0, end: 99 });
    expect(select("bytes=50-500", 100)).toEqual({ start: 50, end: 99 });
    expect(select("BYTES=1-2", 100)).toEqual({ start: 1, end: 2 });
    expect(contentRange({ start: 1, end: 2 }, 100)).toBe("bytes 1-2/100");
  });

  // RFC 9110 14.2: an unknown unit must be ignored; lists and invalid specifiers may be
  it.each([
    "items=0-1",
    "bytes=0-1,5-6",
    "bytes=0-1, 5-6",
    "bytes=0-1,",
    "bytes=-",
    "bytes=5-1",
    "bytes=",
    "bytes 0-1",
    "bytes=a-b",
    "bytes=1-2-3",
    "",
    `bytes=0-${"9".repeat(300)}`,
  ])("ignores %j: whole body, no error", (h) => {
    expect(parseRangeHeader(h)).toBeUndefined();
  });

  it.each([
    ["bytes=100-", 100],
    ["bytes=100-200", 100],
    ["bytes=-0", 100],
    ["bytes=0-", 0],
    ["bytes=-5", 0],
    [`bytes=${"9".repeat(40)}-`, 100],
  ] as const)("refuses the well-formed but unsatisfiable %j (size %d) with 416", (h, size) => {
    expect(rangeError(() => select(h, size))).toEqual({ "content-range": `bytes */${size}` });
  });

  it("round-trips every valid single range", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 40 }),
        fc.nat({ max: 2 ** 40 }),
        fc.nat({ max: 2 ** 40 }),
        (size, a, len) => {
          const start = a % size;
          const end = start + len;
          const r = select(`bytes=${start}-${end}`, size);
          expect(r).toEqual({ start, end: Math.min(end, size - 1) });
          expect(select(`bytes=${start}-`, size)).toEqual({ start, end: size - 1 });
          if (len > 0)
            expect(select(`bytes=-${len}`, size)).toEqual({ start: Math.max(0, size - len), end: size - 1 });
        },
      ),
    );
  });

  it("never fails on garbage with anything but RANGE_INVALID, and never selects bytes outside the content", () => {
    const noise = fc.oneof(
      fc.string(),
      fc.string({ unit: fc.constantFrom(..."bytes=0123456789-, \t;*BYTESitem") }),
      fc
        .tuple(
          fc.constantFrom("bytes=", "Bytes=", "items=", "bytes =", ""),
          fc.string({ unit: fc.constantFrom(..."0123456789-,") }),
        )
        .map(([u, s]) => u + s),
    );
    fc.assert(
      fc.property(noise, fc.nat({ max: 10_000 }), (h, size) => {
        let r: ReturnType<typeof select>;
        try {
          r = select(h, size);
        } catch (e) {
          expect(isWharfError(e, "RANGE_INVALID")).toBe(true);
          return;
        }
        if (r) {
          expect(r.start).toBeGreaterThanOrEqual(0);
          expect(r.start).toBeLessThanOrEqual(r.end);
          expect(r.end).toBeLessThan(size);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
