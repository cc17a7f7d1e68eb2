// Properties of repository names and references (OCI distribution spec, "Pulling manifests").
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { clientErrorOnly, fuzzRuns } from "../../test/fuzz/fuzz-budget.ts";
import { digest, hostileText, repositoryName, tag } from "../../test/fuzz/oci-grammar.ts";
import { assertRepository, isValidRepository, parseReference, withDockerHubLibrary } from "./reference.ts";

const numRuns = fuzzRuns(500);

describe("reference properties", () => {
  it("answers any text with a value or a 4xx WharfError", () => {
    fc.assert(
      fc.property(hostileText, (text) => {
        clientErrorOnly(() => assertRepository(text));
        clientErrorOnly(() => parseReference(text));
      }),
      { numRuns },
    );
  });

  it("accepts every name, tag and digest the grammar generates, unchanged", () => {
    fc.assert(
      fc.property(repositoryName, tag, digest, (name, t, d) => {
        expect(assertRepository(name)).toBe(name);
        expect(parseReference(t)).toEqual({ kind: "tag", tag: t });
        expect(parseReference(d)).toMatchObject({ kind: "digest", digest: { value: d } });
        expect(isValidRepository(withDockerHubLibrary("docker.io", name))).toBe(true);
      }),
      { numRuns },
    );
  });

  it("refuses names with traversal, empty components, upper case or separators at the edges", () => {
    const bad = fc.constantFrom("..", "//", "/.", "./", "\\", "%2e", "A", " ", "\0", "-", "_", ".");
    fc.assert(
      fc.property(repositoryName, bad, fc.constantFrom("start", "end", "double"), (name, b, where) => {
        const mangled =
          where === "start" ? `${b}${name}` : where === "end" ? `${name}${b}` : `${name}${b}${b}${name}`;
        // "a" + "-" + "-" + "a" and "a__a" are legal; everything else here is not.
        const legalJoin = where === "double" && (b === "-" || b === "_");
        if (!legalJoin) expect(isValidRepository(mangled)).toBe(false);
      }),
      { numRuns },
    );
  });
});
