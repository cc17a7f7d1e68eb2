// Properties of configuration loading: whatever the file or document holds, wharf either starts
// with a frozen config or stops with CONFIG_INVALID naming where the problem is, never a stack trace.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { WharfError } from "../../common/errors.ts";
import { fuzzRuns } from "../../test/fuzz/fuzz-budget.ts";
import { buildConfig, loadConfig } from "./load-config.ts";

const numRuns = fuzzRuns(300);
const dir = mkdtempSync(join(tmpdir(), "wharf-config-fuzz-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const VALID = {
  dataDir: "./data",
  listen: { http: "127.0.0.1:5000", https: null, dns: "[::1]:5353", admin: "off" },
  upstreamDns: "127.0.0.1:53",
  upstreamTimeouts: { connect: "5s" },
  tls: { leafValidity: "30d" },
  dns: { answer: ["10.0.0.1"], ttl: 60, allow: ["10.0.0.0/8"] },
  registries: {
    "ghcr.io": { upstream: "https://ghcr.io", aliases: ["ghcr.test"], tagTtl: "5m" },
  },
  defaultRegistry: "ghcr.io",
};

/** The failure is CONFIG_INVALID, and its message starts with a key path, a file position or "(top level)". */
function expectConfigInvalid(err: unknown): void {
  expect(err).toBeInstanceOf(WharfError);
  expect((err as WharfError).code).toBe("CONFIG_INVALID");
  expect((err as Error).message).toMatch(/^(\(top level\)|[^\s:]+(:\d+:\d+)?):/);
}

// Every path to a leaf of a plain object, to replace one value at a time.
function leafPaths(value: unknown, prefix: string[] = []): string[][] {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return [prefix];
  return Object.entries(value).flatMap(([k, v]) => leafPaths(v, [...prefix, k]));
}
function replaced(path: string[], value: unknown): unknown {
  const copy = structuredClone(VALID) as Record<string, unknown>;
  let at = copy;
  for (const key of path.slice(0, -1)) at = at[key] as Record<string, unknown>;
  at[path.at(-1) as string] = value;
  return copy;
}

describe("configuration loading properties", () => {
  it("accepts the base document (sanity check for the properties below)", () => {
    expect(buildConfig(VALID).config.registries["ghcr.io"]?.tagTtl).toBe(300_000);
  });

  it("answers any document with a config or CONFIG_INVALID", () => {
    fc.assert(
      fc.property(fc.anything(), (doc) => {
        try {
          buildConfig(doc);
        } catch (err) {
          expectConfigInvalid(err);
        }
      }),
      { numRuns },
    );
  });

  it("names the key when one value of a valid document is replaced by anything", () => {
    fc.assert(
      fc.property(fc.constantFrom(...leafPaths(VALID)), fc.anything(), (path, value) => {
        try {
          buildConfig(replaced(path, value));
        } catch (err) {
          expectConfigInvalid(err);
          expect((err as Error).message.startsWith(`${path.join(".")}`)).toBe(true);
        }
      }),
      { numRuns },
    );
  });

  it("answers any file (YAML or not) with a config or CONFIG_INVALID", () => {
    const yamlish = fc.oneof(
      fc.string({ unit: "binary", maxLength: 200 }),
      fc.anything().map((v) => stringify(v) ?? ""),
      fc
        .array(
          fc.constantFrom(
            "a:",
            " *x",
            " &x",
            "[",
            "]",
            "{",
            "}",
            "\n",
            "- ",
            "!!binary ",
            "? ",
            "'",
            '"',
            "%YAML 1.1\n---\n",
          ),
          {
            maxLength: 30,
          },
        )
        .map((p) => p.join("")),
    );
    const file = join(dir, "wharf.yaml");
    fc.assert(
      fc.property(yamlish, (text) => {
        writeFileSync(file, text);
        try {
          loadConfig(file, {});
        } catch (err) {
          expectConfigInvalid(err);
        }
      }),
      { numRuns },
    );
  });
});
