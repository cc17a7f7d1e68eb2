// `wharf gc` through the real CLI entry, on a data dir a HostedRegistry pushed into: a dry run
// changes nothing, the real run removes the unreferenced blob (grace 0) and keeps the image.
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { makeTempDir, type TempDir } from "../../test/support/temp-dir.ts";
import { OCI_MANIFEST } from "../oci/media-types.ts";
import { parseReference } from "../oci/reference.ts";
import { imageManifest, openHosted, pushBlob } from "../registry/hosted/hosted.test-support.ts";
import { runCli } from "./run-cli.test-support.ts";

let tmp: TempDir;
afterAll(() => tmp?.remove());

describe("wharf gc", () => {
  it("reports in a dry run, then removes unreferenced hosted blobs and keeps referenced ones", async () => {
    tmp = await makeTempDir("wharf-gc-cli-");
    const dataDir = join(tmp.path, "data");
    const configFile = join(tmp.path, "wharf.yaml");
    await writeFile(configFile, `dataDir: ${JSON.stringify(dataDir)}\ndns: {answer: [10.4.4.4]}\n`);
    const { reg, cache, db } = await openHosted(dataDir);
    const config = await pushBlob(reg, "app", Buffer.from("{}"));
    const layer = await pushBlob(reg, "app", randomBytes(1000));
    const stray = await pushBlob(reg, "app", randomBytes(2048));
    await reg.putManifest("app", parseReference("v1"), imageManifest(config, [layer]), OCI_MANIFEST);

    const dry = await runCli("gc", "--config", configFile, "--dry-run", "--grace", "0s");
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/would remove.*1 unreferenced link.*1 blob\(s\) \(2(\.0)? KiB\)/);
    expect(await cache.store.size(stray)).toBe(2048);

    const run = await runCli("gc", "--config", configFile, "--grace", "0s");
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/removed.*1 blob\(s\)/);
    expect(await cache.store.size(stray)).toBeUndefined();
    expect(await cache.store.size(layer)).toBe(1000);
    expect(
      (await reg.manifest("app", parseReference("v1"), { head: true, accept: [] })).size,
    ).toBeGreaterThan(0);

    expect((await runCli("gc", "--config", configFile, "--grace", "soon")).code).toBe(2);
    db.close();
  });
});
