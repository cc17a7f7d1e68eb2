// Properties of digest parsing (OCI image spec, descriptor.md "Digests").
import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { clientErrorOnly, fuzzRuns } from "../../test/fuzz/fuzz-budget.ts";
import { digest, hostileText } from "../../test/fuzz/oci-grammar.ts";
import { digestOf, parseDigest, sha256Digest } from "./digest.ts";

const numRuns = fuzzRuns(500);

describe("digest properties", () => {
  it("answers any text with a digest or DIGEST_INVALID", () => {
    const text = fc.oneof(
      hostileText,
      hostileText.map((t) => `sha256:${t}`),
      fc
        .constantFrom("constructor", "__proto__", "toString", "hasOwnProperty")
        .map((a) => `${a}:${"a".repeat(64)}`),
    );
    fc.assert(
      fc.property(text, (t) => {
        const r = clientErrorOnly(() => parseDigest(t));
        if (r instanceof Error) expect((r as { code?: string }).code).toBe("DIGEST_INVALID");
      }),
      { numRuns },
    );
  });

  it("round-trips valid digests and refuses the same digest in upper case", () => {
    fc.assert(
      fc.property(digest, (d) => {
        const parsed = parseDigest(d);
        expect(parsed.value).toBe(d);
        expect(`${parsed.algorithm}:${parsed.hex}`).toBe(d);
        expect(() => parseDigest(d.toUpperCase())).toThrow();
      }),
      { numRuns },
    );
  });

  it("parses what it computes, and computes what node:crypto does", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (data) => {
        const d = parseDigest(sha256Digest(data));
        expect(d.hex).toBe(createHash("sha256").update(data).digest("hex"));
        expect(digestOf(d, data)).toBe(d.value);
      }),
      { numRuns },
    );
  });
});
