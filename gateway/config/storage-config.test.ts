// `storage:` keys: the default, what kind s3 requires, and its keys resolved like upstream
// passwords (environment or file), never shown in the frozen config, JSON or error messages.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { buildConfig } from "./load-config.ts";

const s3 = (extra: Record<string, unknown> = {}) => ({
  storage: {
    kind: "s3",
    s3: {
      endpoint: "http://127.0.0.1:7480",
      bucket: "wharf",
      accessKeyEnv: "AK",
      secretKeyEnv: "SK",
      ...extra,
    },
  },
});

function message(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  return "no error";
}

describe("storage config", () => {
  it("defaults to the filesystem, with no storage keys to resolve", () => {
    const loaded = buildConfig({});
    expect(loaded.config.storage.kind).toBe("filesystem");
    expect(loaded.storageCredentials).toBeNull();
  });

  it("kind s3 takes its defaults and resolves its keys from the environment and files", () => {
    const dir = mkdtempSync(join(tmpdir(), "wharf-storage-"));
    writeFileSync(join(dir, "secret"), "file-secret-value\n");
    const loaded = buildConfig(s3({ secretKeyEnv: undefined, secretKeyFile: join(dir, "secret") }), {
      AK: "env-access-key",
    });
    const c = loaded.config.storage.s3;
    expect(c).toMatchObject({
      region: "us-east-1",
      prefix: "",
      forcePathStyle: true,
      caFile: null,
      leaseTime: 30_000,
    });
    expect(loaded.storageCredentials?.accessKeyId.reveal()).toBe("env-access-key");
    expect(loaded.storageCredentials?.secretAccessKey.reveal()).toBe("file-secret-value");
    const shown = JSON.stringify(loaded) + inspect(loaded, { depth: 10 });
    expect(shown).not.toContain("env-access-key");
    expect(shown).not.toContain("file-secret-value");
  });

  it("refuses an incomplete or ambiguous s3 block, naming the key", () => {
    expect(message(() => buildConfig({ storage: { kind: "s3" } }))).toMatch(/storage.*needs storage\.s3/);
    expect(message(() => buildConfig(s3({ accessKeyFile: "/x" }), { AK: "a", SK: "b" }))).toMatch(
      /storage\.s3.*exactly one of accessKeyEnv or accessKeyFile/,
    );
    expect(message(() => buildConfig(s3({ prefix: "no-slash" }), { AK: "a", SK: "b" }))).toMatch(
      /storage\.s3\.prefix/,
    );
    expect(message(() => buildConfig(s3({ leaseTime: "100ms" }), { AK: "a", SK: "b" }))).toMatch(/leaseTime/);
    expect(message(() => buildConfig(s3(), { AK: "a" }))).toBe(
      "storage.s3.secretKeyEnv: environment variable SK is not set",
    );
    expect(
      message(() =>
        buildConfig(s3({ secretKeyEnv: undefined, secretKeyFile: "/nonexistent/k" }), { AK: "a" }),
      ),
    ).toMatch(/storage\.s3\.secretKeyFile: cannot read \/nonexistent\/k \(ENOENT\)/);
  });

  it("commands without credentials leave the keys alone unless they reach the bucket", () => {
    expect(buildConfig(s3(), {}, "t", { credentials: false }).storageCredentials).toBeNull();
    const verify = buildConfig(s3(), { AK: "a", SK: "b" }, "t", {
      credentials: false,
      storageCredentials: true,
    });
    expect(verify.storageCredentials?.secretAccessKey.reveal()).toBe("b");
  });

  it("storage.postgres: the URL from an environment variable or a file, never shown; only with s3", () => {
    const withPg = (pg: Record<string, unknown>) => ({ storage: { ...s3().storage, postgres: pg } });
    const url = "postgres://wharf:pg-secret-pw@db.internal/wharf";
    const loaded = buildConfig(withPg({ urlEnv: "DB" }), { AK: "a", SK: "b", DB: url });
    expect(loaded.metadataUrl?.reveal()).toBe(url);
    expect(JSON.stringify(loaded) + inspect(loaded, { depth: 9 })).not.toContain("pg-secret-pw");
    const dir = mkdtempSync(join(tmpdir(), "wharf-pg-url-"));
    writeFileSync(join(dir, "url"), `${url}\n`);
    expect(
      buildConfig(withPg({ urlFile: join(dir, "url") }), { AK: "a", SK: "b" }).metadataUrl?.reveal(),
    ).toBe(url);
    expect(message(() => buildConfig(withPg({ urlEnv: "DB" }), { AK: "a", SK: "b" }))).toBe(
      "storage.postgres.urlEnv: environment variable DB is not set",
    );
    expect(message(() => buildConfig(withPg({}), {}))).toMatch(
      /storage\.postgres: give exactly one of urlEnv or urlFile/,
    );
    expect(message(() => buildConfig({ storage: { postgres: { urlEnv: "DB" } } }, { DB: url }))).toMatch(
      /storage.*needs storage\.kind "s3"/,
    );
    expect(buildConfig(withPg({ urlEnv: "DB" }), {}, "t", { credentials: false }).metadataUrl).toBeNull();
  });
});
