import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseRangeHeader } from "../http/range-header.ts";
import { rangeHeaderOf } from "./proxy-registry.ts";
import type { RangeRequest } from "./registry.ts";

describe("the Range a proxied registry passes on", () => {
  it("means exactly the range the HTTP layer parsed", () => {
    const range = fc.oneof(
      fc.record({ kind: fc.constant("suffix" as const), length: fc.nat() }),
      fc
        .tuple(fc.nat(), fc.option(fc.nat(), { nil: undefined }))
        .map(
          ([start, len]): RangeRequest =>
            len === undefined ? { kind: "from", start } : { kind: "from", start, end: start + len },
        ),
    );
    fc.assert(
      fc.property(range, (r) => {
        expect(parseRangeHeader(rangeHeaderOf(r))).toEqual(r);
      }),
    );
    expect(rangeHeaderOf(undefined)).toBeUndefined();
  });
});
