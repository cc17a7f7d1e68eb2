// Properties of WWW-Authenticate parsing (RFC 9110 §11.6.1, §11.2; distribution's token.md).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fuzzRuns } from "../../test/fuzz/fuzz-budget.ts";
import { hostileText } from "../../test/fuzz/oci-grammar.ts";
import { parseWwwAuthenticate } from "./www-authenticate.ts";

const numRuns = fuzzRuns(500);
const token = fc.stringMatching(/^[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]{0,15}$/);
// quoted-string content: any visible ASCII and spaces; '"' and '\' are sent escaped.
const quotable = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
  maxLength: 60,
});

const challenge = fc.record({
  scheme: token,
  params: fc.uniqueArray(fc.tuple(token, quotable), {
    minLength: 1,
    maxLength: 4,
    selector: ([k]) => k.toLowerCase(),
  }),
});

function render(c: { scheme: string; params: [string, string][] }): string {
  const params = c.params.map(([k, v]) => `${k}="${v.replace(/["\\]/g, "\\$&")}"`);
  return `${c.scheme} ${params.join(", ")}`;
}

describe("parseWwwAuthenticate properties", () => {
  it("never throws and stays fast on any header (no catastrophic backtracking)", () => {
    const header = fc.oneof(
      hostileText,
      fc
        .array(fc.constantFrom("a", "=", "b", ",", " ", '"', "\\", "Bearer "), { maxLength: 400 })
        .map((p) => p.join("")),
    );
    fc.assert(
      fc.property(header, (h) => {
        const started = performance.now();
        const challenges = parseWwwAuthenticate(h);
        expect(performance.now() - started).toBeLessThan(100);
        for (const c of challenges) expect(c.scheme).toBe(c.scheme.toLowerCase());
      }),
      { numRuns },
    );
  });

  it("round-trips challenges with quoted parameters (escapes included)", () => {
    fc.assert(
      fc.property(fc.array(challenge, { minLength: 1, maxLength: 3 }), (challenges) => {
        const parsed = parseWwwAuthenticate(challenges.map(render).join(", "));
        expect(parsed).toEqual(
          challenges.map((c) => ({
            scheme: c.scheme.toLowerCase(),
            params: Object.fromEntries(c.params.map(([k, v]) => [k.toLowerCase(), v])),
          })),
        );
      }),
      { numRuns },
    );
  });
});
