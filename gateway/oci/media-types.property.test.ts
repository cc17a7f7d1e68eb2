// Properties of Accept parsing (RFC 9110 §12.5.1) as used for manifest negotiation.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fuzzRuns } from "../../test/fuzz/fuzz-budget.ts";
import { hostileText } from "../../test/fuzz/oci-grammar.ts";
import { acceptsManifest, parseAccept } from "./media-types.ts";

const numRuns = fuzzRuns(500);
const token = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,30}$/);
const mediaType = fc.tuple(token, token).map(([t, s]) => `${t}/${s}`);
const param = fc
  .tuple(token, fc.oneof(token, fc.constantFrom('"a b"', "0.5", "1")))
  .map(([k, v]) => `${k}=${v}`);

describe("parseAccept properties", () => {
  it("never throws, and yields trimmed lower-case types without separators", () => {
    const header = fc.oneof(hostileText, fc.array(hostileText, { maxLength: 4 }), fc.constant(undefined));
    fc.assert(
      fc.property(header, (h) => {
        for (const t of parseAccept(h)) {
          expect(t).toBe(t.trim().toLowerCase());
          expect(t).not.toMatch(/[,;]/);
          expect(t).not.toBe("");
        }
      }),
      { numRuns },
    );
  });

  it("round-trips lists of media types with parameters, in one header or several", () => {
    const entry = fc.tuple(mediaType, fc.array(param, { maxLength: 2 }));
    fc.assert(
      fc.property(fc.array(entry, { minLength: 1, maxLength: 6 }), fc.boolean(), (entries, split) => {
        const texts = entries.map(([t, ps]) => [t, ...ps].join(" ; "));
        const parsed = parseAccept(split ? texts : texts.join(" , "));
        expect(parsed).toEqual(entries.map(([t]) => t.toLowerCase()));
        for (const [t] of entries) expect(acceptsManifest(parsed, t.toLowerCase())).toBe(true);
      }),
      { numRuns },
    );
  });
});
