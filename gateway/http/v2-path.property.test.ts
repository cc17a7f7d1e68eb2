// Properties of the registry API path checks: any input is either refused with NAME_INVALID or
// passed on; paths built from the spec's grammar are safe and name the right endpoint; traversal
// forms never pass.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { WharfError } from "../../common/errors.ts";
import { clientErrorOnly, fuzzRuns } from "../../test/fuzz/fuzz-budget.ts";
import { digest, hostileText, repositoryName, tag } from "../../test/fuzz/oci-grammar.ts";
import { assertSafeV2Path, endpointOf } from "./v2-path.ts";

const numRuns = fuzzRuns(500);

describe("v2 path properties", () => {
  it("answers any path with a pass or a 4xx WharfError, and endpointOf never throws", () => {
    const path = fc.oneof(
      hostileText,
      hostileText.map((t) => `/v2/${t}`),
      fc.tuple(repositoryName, hostileText).map(([n, t]) => `/v2/${n}/manifests/${t}`),
    );
    fc.assert(
      fc.property(path, (p) => {
        clientErrorOnly(() => assertSafeV2Path(p));
        expect(() => endpointOf(p)).not.toThrow();
      }),
      { numRuns },
    );
  });

  it("passes manifest, blob, tags, upload and referrers paths built from the grammar", () => {
    fc.assert(
      fc.property(repositoryName, tag, digest, (name, ref, dgst) => {
        const cases: [string, ReturnType<typeof endpointOf>][] = [
          [`/v2/${name}/manifests/${ref}`, "manifest"],
          [`/v2/${name}/manifests/${dgst}`, "manifest"],
          [`/v2/${name}/blobs/${dgst}`, "blob"],
          [`/v2/${name}/tags/list`, "tags"],
          [`/v2/${name}/blobs/uploads/`, "upload"],
          [`/v2/${name}/referrers/${dgst}`, "referrers"],
        ];
        for (const [p, kind] of cases) {
          expect(() => assertSafeV2Path(p)).not.toThrow();
          expect(endpointOf(p)).toBe(kind);
        }
      }),
      { numRuns },
    );
  });

  it("refuses '..', '.', percent-encoding, empty segments and backslashes wherever they appear", () => {
    const hostile = fc.constantFrom("..", ".", "%2e%2e", "%2E", "%2f", "", "a\\b", "\\", "..\\", "%00");
    fc.assert(
      fc.property(repositoryName, tag, hostile, fc.nat(), (name, ref, bad, at) => {
        const segments = [...name.split("/"), "manifests", ref];
        segments.splice(at % (segments.length + 1), 0, bad);
        const p = `/v2/${segments.join("/")}`;
        // Refused: NAME_INVALID, or no endpoint at all (a trailing "/" is simply not an endpoint).
        try {
          assertSafeV2Path(p);
        } catch (err) {
          expect(err instanceof WharfError && err.code === "NAME_INVALID").toBe(true);
          return;
        }
        expect(endpointOf(p)).toBeUndefined();
      }),
      { numRuns },
    );
  });
});
