// Properties of the registry API path parser: any input is a route, undefined or a 4xx WharfError;
// paths built from the spec's grammar round-trip; traversal forms never reach a route.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { clientErrorOnly, fuzzRuns } from "../../test/fuzz/fuzz-budget.ts";
import { digest, hostileText, repositoryName, tag } from "../../test/fuzz/oci-grammar.ts";
import { WharfError } from "../errors.ts";
import { parseV2Path } from "./v2-path.ts";

const numRuns = fuzzRuns(500);

describe("parseV2Path properties", () => {
  it("answers any path with a route, undefined or a 4xx WharfError", () => {
    const path = fc.oneof(
      hostileText,
      hostileText.map((t) => `/v2/${t}`),
      fc.tuple(repositoryName, hostileText).map(([n, t]) => `/v2/${n}/manifests/${t}`),
    );
    fc.assert(
      fc.property(path, (p) => {
        clientErrorOnly(() => parseV2Path(p));
      }),
      { numRuns },
    );
  });

  it("round-trips manifest, blob, tags and upload paths built from the grammar", () => {
    fc.assert(
      fc.property(repositoryName, tag, digest, (name, ref, dgst) => {
        expect(parseV2Path(`/v2/${name}/manifests/${ref}`)).toEqual({
          kind: "manifest",
          name,
          reference: ref,
        });
        expect(parseV2Path(`/v2/${name}/manifests/${dgst}`)).toEqual({
          kind: "manifest",
          name,
          reference: dgst,
        });
        expect(parseV2Path(`/v2/${name}/blobs/${dgst}`)).toEqual({ kind: "blob", name, digest: dgst });
        expect(parseV2Path(`/v2/${name}/tags/list`)).toEqual({ kind: "tags", name });
        expect(parseV2Path(`/v2/${name}/blobs/uploads/`)).toEqual({ kind: "upload", name });
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
        // Refused: NAME_INVALID, or no route at all (a trailing "/" is simply not an endpoint).
        let route: unknown;
        try {
          route = parseV2Path(`/v2/${segments.join("/")}`);
        } catch (err) {
          expect(err instanceof WharfError && err.code === "NAME_INVALID").toBe(true);
        }
        expect(route).toBeUndefined();
      }),
      { numRuns },
    );
  });
});
