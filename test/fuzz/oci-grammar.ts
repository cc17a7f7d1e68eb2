// Arbitraries for the OCI distribution spec's grammar ("Pulling manifests": <name>, <reference>;
// image spec descriptor.md: digests), shared by the property tests of every parser that reads them.
import fc from "fast-check";

const component = fc.stringMatching(/^[a-z0-9]{1,6}(?:(?:\.|_|__|-{1,2})[a-z0-9]{1,6}){0,2}$/);

/** A repository name: components joined by "/", at most 255 characters. */
export const repositoryName = fc
  .array(component, { minLength: 1, maxLength: 4 })
  .map((parts) => parts.join("/"))
  .filter((n) => n.length <= 255);

/** A tag: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}. */
export const tag = fc.stringMatching(/^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/);

const hex = (length: number) =>
  fc.uint8Array({ minLength: length / 2, maxLength: length / 2 }).map((b) => Buffer.from(b).toString("hex"));

/** A digest wharf can verify: sha256 or sha512 with lower-case hex of the right length. */
export const digest = fc.oneof(
  hex(64).map((h) => `sha256:${h}`),
  hex(128).map((h) => `sha512:${h}`),
);

/** Any string, with the characters parsers care about made frequent. */
export const hostileText = fc.oneof(
  fc.string({ unit: "binary", maxLength: 300 }),
  fc
    .array(
      fc.constantFrom(
        "/",
        ".",
        "..",
        "%2e",
        "%2E",
        "%2f",
        "\\",
        ":",
        "@",
        "a",
        "Z",
        "_",
        "-",
        "\0",
        " ",
        "ü",
      ),
      { maxLength: 40 },
    )
    .map((parts) => parts.join("")),
);
