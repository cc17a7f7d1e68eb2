// kill -9 at random points of chunked uploads and manifest PUTs (a child process pushing in a
// loop), several times over one data dir; afterwards every blob file hashes to its name, no tag
// points at a missing manifest, no manifest names a missing blob, gc clears the dead uploads and
// the push can be repeated to success.
import { spawn } from "node:child_process";
import { randomBytes, randomInt } from "node:crypto";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { makeTempDir, type TempDir } from "../../../test/support/temp-dir.ts";
import { verifyBlobs } from "../../cache/cache-maintenance.ts";
import { silentLogger } from "../../log.ts";
import { parseDigest } from "../../oci/digest.ts";
import { OCI_MANIFEST } from "../../oci/media-types.ts";
import { parseReference } from "../../oci/reference.ts";
import {
  imageManifest,
  openHosted,
  pushBlob,
  pushChunked,
  REGISTRY,
  readBody,
} from "./hosted.test-support.ts";
import { collectHostedGarbage } from "./hosted-gc.ts";
import { referencedDigests } from "./manifest-check.ts";

const CHILD = new URL("../../../test/support/hosted-push-child.ts", import.meta.url).pathname;
const RUNS = 8;
let tmp: TempDir;
afterAll(() => tmp?.remove());

/** Starts the child, kills it `delayMs` after it is ready; resolves with how many pushes it finished. */
function runAndKill(dataDir: string, delayMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, dataDir], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
      if (out.startsWith("ready\n") && !child.killed)
        setTimeout(() => child.kill("SIGKILL"), delayMs).unref();
    });
    child.stderr.on("data", (c: Buffer) => {
      err += c.toString();
    });
    child.on("exit", (code, signal) => {
      if (signal !== "SIGKILL") reject(new Error(`child exited ${code}: ${err.slice(0, 2000)}`));
      else resolve(out.split("\n").filter((l) => l.startsWith("pushed")).length);
    });
  });
}

describe("hosted registry crash safety", () => {
  it(`SIGKILL during pushes (${RUNS} runs) leaves no partial blob, dangling tag or manifest`, async () => {
    tmp = await makeTempDir("wharf-hosted-crash-");
    const delays: number[] = [];
    let pushes = 0;
    for (let i = 0; i < RUNS; i++) {
      const delay = randomInt(30, 1500);
      delays.push(delay);
      pushes += await runAndKill(tmp.path, delay);
    }
    const { reg, cache, db } = await openHosted(tmp.path);
    const context = `kill delays ${delays.join(",")} ms, ${pushes} complete pushes`;

    const verified = await verifyBlobs(cache);
    expect(verified.quarantined, context).toEqual([]);
    expect(verified.checked, context).toBeGreaterThan(0);

    const tags = db.connection.prepare("SELECT repository, tag, digest FROM hosted_tags").all() as {
      repository: string;
      tag: string;
      digest: string;
    }[];
    for (const t of tags) {
      expect(reg.meta.linkKind(REGISTRY, t.repository, t.digest), `${t.tag} ${context}`).toBe("manifest");
      expect(await cache.store.size(parseDigest(t.digest)), `${t.tag} ${context}`).toBeGreaterThan(0);
    }
    for (const m of reg.meta.links("manifest")) {
      const body = await cache.store.read(parseDigest(m.digest));
      expect(body, `manifest ${m.digest} ${context}`).toBeDefined();
      const refs = referencedDigests(body as Buffer);
      for (const d of [...refs.blobs, ...refs.manifests.filter((x) => x !== undefined)]) {
        expect(await cache.store.size(parseDigest(d)), `${d} named by ${m.digest} ${context}`).toBeDefined();
        expect(reg.meta.linkKind(REGISTRY, m.repository, d), context).toBeDefined();
      }
    }

    const leftSessions = (await readdir(join(tmp.path, "uploads"))).length;
    console.log(`crash test: ${context}, ${leftSessions} upload session(s) left, ${tags.length} tag(s)`);
    // Sessions the kills left behind are gc's (uploadTtl 0 here); nothing else is lost.
    const gc = await collectHostedGarbage({ cache, uploadTtl: () => -1, log: silentLogger });
    expect(await readdir(join(tmp.path, "uploads")), context).toEqual([]);
    expect(gc.blobsDeleted, context).toBe(0);

    const layerBytes = randomBytes(700_000);
    const layer = await pushChunked(reg, "crash/app", layerBytes, 100_000);
    const config = await pushBlob(reg, "crash/app", Buffer.from('{"redo":true}'));
    await reg.putManifest("crash/app", parseReference("t0"), imageManifest(config, [layer]), OCI_MANIFEST);
    const got = await reg.manifest("crash/app", parseReference("t0"), { head: false, accept: [] });
    expect(JSON.parse((got.body as Buffer).toString()).layers[0].digest).toBe(layer.value);
    expect(await readBody((await reg.blob("crash/app", layer, { head: false })).body)).toEqual(layerBytes);
    db.close();
  }, 120_000);
});
