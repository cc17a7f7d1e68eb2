// Issue 14, "Done when": SIGKILL at random points of a chunked push (several runs); afterwards
// `wharf cache verify` finds nothing corrupt, no tag points at a missing manifest or blob, and the
// push repeated succeeds with the right digest. The kill points are random (printed, so a failure
// can be replayed) over the time a clean push takes, plus one kill in the middle of a PATCH body.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CREDS, type HostedWharf, startHostedWharf } from "../support/hosted-wharf.ts";
import { makeTestImage, type OciPushClient, sha256, type TestImage } from "../support/oci-push-client.ts";

const REPO = "team/crash";
const LAYER = 4 * 1024 * 1024;
const CHUNK = 256 * 1024;
const RUNS = 6;

let h: HostedWharf;

beforeAll(async () => {
  h = await startHostedWharf();
}, 60_000);

afterAll(async () => {
  await h?.stop();
});

async function push(c: OciPushClient, image: TestImage, tag: string): Promise<string> {
  await c.pushBlob(REPO, image.layer, CHUNK);
  await c.pushBlob(REPO, image.config, CHUNK);
  const r = await c.putManifest(REPO, tag, image.manifest);
  if (r.status !== 201) throw new Error(`PUT manifest: ${r.status} ${r.body}`);
  return r.headers.get("docker-content-digest") ?? "";
}

/** A PATCH whose body stops half-way: wharf is killed while it waits for the rest. */
async function killMidChunk(c: OciPushClient, image: TestImage): Promise<void> {
  let location = await c.startUpload(REPO);
  const first = await c.patch(location, image.layer.subarray(0, CHUNK), 0);
  location = first.headers.get("location") ?? location;
  const half = image.layer.subarray(CHUNK, CHUNK + CHUNK / 2);
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new Uint8Array(half));
      // never closed: the request is cut by the kill
    },
  });
  const pending = c
    .request("PATCH", location, {
      body,
      headers: { "content-range": `${CHUNK}-${2 * CHUNK - 1}`, "content-length": String(CHUNK) },
    })
    .catch((e: unknown) => e);
  await new Promise((r) => setTimeout(r, 300));
  h.wharf.kill("SIGKILL");
  await pending;
}

/** Every tag resolves to a manifest whose blobs are all there. */
async function tagsIntact(c: OciPushClient): Promise<number> {
  let checked = 0;
  for (const tag of await c.tags(REPO)) {
    const m = await c.request("GET", `${REPO}/manifests/${tag}`, {
      headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
    });
    expect(m.status, `tag ${tag}`).toBe(200);
    expect(sha256(Buffer.from(m.body)), `tag ${tag}`).toBe(m.headers.get("docker-content-digest"));
    const doc = JSON.parse(m.body) as { config: { digest: string }; layers: { digest: string }[] };
    for (const d of [doc.config.digest, ...doc.layers.map((l) => l.digest)])
      expect((await c.request("HEAD", `${REPO}/blobs/${d}`)).status, `${tag} ${d}`).toBe(200);
    checked++;
  }
  return checked;
}

describe("hosted registry: kill -9 during a chunked push", () => {
  it(`${RUNS} kills at random points; verify is clean, tags intact, the push repeats`, async () => {
    const c = h.client(CREDS);
    const t0 = performance.now();
    expect(await push(c, makeTestImage(LAYER), "clean")).toMatch(/^sha256:/);
    const cleanMs = Math.max(20, performance.now() - t0);
    const log: string[] = [];
    for (let run = 0; run < RUNS; run++) {
      const image = makeTestImage(LAYER);
      const tag = `run-${run}`;
      if (run === RUNS - 1) {
        log.push(`run ${run}: kill in the middle of a PATCH body`);
        await killMidChunk(c, image);
      } else {
        const delay = Math.round(Math.random() * cleanMs * 1.1);
        log.push(`run ${run}: kill after ${delay} ms of a ${Math.round(cleanMs)} ms push`);
        const pushing = push(c, image, tag).catch((e: unknown) => e);
        await new Promise((r) => setTimeout(r, delay));
        h.wharf.kill("SIGKILL");
        await pushing;
      }
      const exit = await h.wharf.exited;
      expect(exit.signal, log.join("\n")).toBe("SIGKILL");
      await h.restart();
      const verify = await h.cli(["cache", "verify"], true);
      expect(verify.code, `${log.join("\n")}\n${verify.stdout}${verify.stderr}`).toBe(0);
      expect(verify.stdout).toMatch(/ 0 quarantined/);
      await tagsIntact(c);
      // the same push again, from the start, succeeds with the manifest's own digest
      expect(await push(c, image, tag), log.join("\n")).toBe(image.digests.manifest);
      const layer = await fetch(c.url(`${REPO}/blobs/${image.digests.layer}`), {
        headers: { authorization: `Basic ${Buffer.from(CREDS).toString("base64")}` },
        signal: AbortSignal.timeout(20_000),
      });
      expect(sha256(Buffer.from(await layer.arrayBuffer()))).toBe(image.digests.layer);
    }
    expect(await tagsIntact(c)).toBe(RUNS + 1);
    console.log(`hosted-crash: ${log.join("; ")}`);
  }, 150_000);
});
