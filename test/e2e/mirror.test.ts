// Issue 15, end to end: a real docker-registry upstream (behind the tamper proxy, which counts
// what wharf asked and can fail blob GETs), images pushed with skopeo to simulate upstream
// releases, a running `wharf serve` with a hosted registry and mirror entries, and the
// `wharf mirror` CLI beside it. One world for the file; the tests run in order and build on it.
import { createHash } from "node:crypto";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { fileURLToPath } from "node:url";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TagReport } from "../../gateway/mirror/sync-runner.ts";
import { readManifestDigests } from "../support/images.ts";
import { freePort, loopbackIp } from "../support/ports.ts";
import { runCommand } from "../support/run-command.ts";
import { pushLayout, runSkopeo } from "../support/skopeo.ts";
import { startTamperProxy, type TamperProxy } from "../support/tamper-proxy.ts";
import { makeTempDir, type TempDir } from "../support/temp-dir.ts";
import { makeTestCa, type TestCa } from "../support/test-ca.ts";
import { startUpstreamRegistry, type UpstreamRegistry } from "../support/upstream-registry.ts";
import { runWharfCli, startWharf, type WharfProcess } from "../support/wharf-process.ts";

const RANDOM_IMAGES = fileURLToPath(new URL("../support/random-images.sh", import.meta.url));
const CHROMIUM = "/usr/bin/chromium";
const ALPINE = "registry.internal/library/alpine";
const MULTI = "registry.internal/library/multi";
const ARM = "registry.internal/arm/multi";

let tmp: TempDir;
let ca: TestCa;
let up: UpstreamRegistry;
let proxy: TamperProxy;
let wharf: WharfProcess;
let wharfIp: string;
let layout: string;
/** The manifest digests of img0..img3 of the random layout (the "releases" of alpine:3.20). */
const rel: string[] = [];

async function cli(...args: string[]) {
  return runWharfCli(wharf, ["mirror", ...args]);
}

async function sync(...args: string[]): Promise<{ code: number | null; tags: TagReport[]; ok: boolean }> {
  const r = await cli("sync", "--json", ...args);
  let doc: { tags: TagReport[]; ok: boolean };
  try {
    doc = JSON.parse(r.stdout);
  } catch {
    throw new Error(`mirror sync printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
  return { code: r.code, ...doc };
}

/** Pushes image `img` of the random layout upstream as library/alpine:3.20 (a new "release"). */
async function release(img: number): Promise<void> {
  await runSkopeo([
    "copy",
    "--dest-cert-dir",
    ca.certDir,
    `oci:${layout}:img${img}`,
    `docker://${up.host}/library/alpine:3.20`,
  ]);
}

/** The raw manifest wharf serves for `ref` (a plain-HTTP path-prefix name), via skopeo. */
async function rawThroughWharf(ref: string): Promise<string> {
  const r = await runSkopeo(["inspect", "--raw", "--tls-verify=false", `docker://${wharfIp}:5000/${ref}`]);
  return r.stdout;
}

const sha256 = (s: string) => `sha256:${createHash("sha256").update(s).digest("hex")}`;

/** Rows of the mirror's and hosted registry's tables that concern one target repository, plus blob rows. */
function snapshot(repository: string): string {
  const db = new DatabaseSync(join(String(wharf.config.dataDir), "metadata.sqlite"), { readOnly: true });
  try {
    const q = (sql: string) => JSON.stringify(db.prepare(sql).all(repository));
    return [
      q("SELECT * FROM hosted_tags WHERE repository = ? ORDER BY tag"),
      q("SELECT registry, repository, digest, kind FROM hosted_links WHERE repository = ? ORDER BY digest"),
      q("SELECT * FROM mirror_tags WHERE target_repository = ? ORDER BY tag"),
      q("SELECT * FROM mirror_history WHERE target_repository = ? ORDER BY history_tag"),
      JSON.stringify(db.prepare("SELECT digest, size FROM blobs ORDER BY digest").all()),
    ].join("\n");
  } finally {
    db.close();
  }
}

async function storeFiles(): Promise<string[]> {
  const root = join(String(wharf.config.dataDir), "blobs");
  const out: string[] = [];
  for (const e of await readdir(root, { recursive: true, withFileTypes: true }))
    if (e.isFile()) out.push(join(e.parentPath, e.name));
  return out.sort();
}

const alpineManifests = (since: number) =>
  proxy.requests(since).filter((r) => r.path.startsWith("/v2/library/alpine/manifests/"));

beforeAll(async () => {
  tmp = await makeTempDir("wharf-e2e-mirror-");
  const upIp = loopbackIp();
  const proxyIp = loopbackIp();
  wharfIp = loopbackIp();
  ca = await makeTestCa(join(tmp.path, "ca"), { dnsNames: [], ips: [upIp, proxyIp] });
  up = await startUpstreamRegistry({ host: upIp, cert: ca.cert, key: ca.key });
  proxy = await startTamperProxy({
    host: proxyIp,
    cert: ca.cert,
    key: ca.key,
    upstream: up.url,
    caFile: ca.caCert,
  });
  layout = join(tmp.path, "random");
  await runCommand(["bash", RANDOM_IMAGES, layout, "4", "1"]);
  for (let i = 0; i < 4; i++) rel.push(readManifestDigests(`img${i}`, layout).manifest);
  await pushLayout("multi", `${up.host}/library/multi:1`, { certDir: ca.certDir });
  wharf = await startWharf({
    config: {
      listen: { http: `${wharfIp}:5000`, admin: `${wharfIp}:9090` },
      upstreamCaFile: ca.caCert,
      upstreamDns: `127.0.0.1:${await freePort()}`,
      registries: {
        "docker.io": { upstream: proxy.url, tagTtl: 0 },
        "registry.internal": { hosted: {} },
      },
      mirror: [
        {
          source: "docker.io/library/alpine",
          tags: ["3.20"],
          target: ALPINE,
          keep: 5,
          serveUpstreamName: true,
        },
        { source: "docker.io/library/multi", tags: ["1*"], target: MULTI, schedule: "3s" },
        { source: "docker.io/library/multi", tags: [">=1 <2"], target: ARM, platforms: ["linux/arm64"] },
      ],
    },
  });
}, 120_000);

afterAll(async () => {
  await wharf?.stop();
  await proxy?.stop();
  await up?.stop();
  await tmp?.remove();
});

describe("wharf mirror", () => {
  it("follows an upstream tag that changes twice: HEADs only unless it changed, one GET per change, history", async () => {
    await release(0);
    let since = proxy.mark();
    let r = await sync(ALPINE);
    expect(r.code).toBe(0);
    expect(r.tags).toEqual([
      expect.objectContaining({
        tag: "3.20",
        previous: null,
        current: rel[0],
        changed: true,
        pinned: false,
        error: null,
      }),
    ]);
    const countsOf = (from: number) => {
      const reqs = alpineManifests(from);
      return {
        heads: reqs.filter((x) => x.method === "HEAD" && x.path.endsWith("/3.20")).length,
        getsByTag: reqs.filter((x) => x.method === "GET" && x.path.endsWith("/3.20")).length,
        getsByDigest: reqs.filter((x) => x.method === "GET" && x.path.includes("/sha256:")).length,
      };
    };
    expect(countsOf(since)).toEqual({ heads: 1, getsByTag: 0, getsByDigest: 1 });

    // unchanged upstream: one HEAD, nothing else
    since = proxy.mark();
    r = await sync(ALPINE);
    expect(r.tags[0]).toMatchObject({ changed: false, current: rel[0] });
    expect(countsOf(since)).toEqual({ heads: 1, getsByTag: 0, getsByDigest: 0 });

    for (const img of [1, 2]) {
      await release(img);
      since = proxy.mark();
      r = await sync(ALPINE);
      expect(r.tags[0]).toMatchObject({
        changed: true,
        previous: rel[img - 1],
        current: rel[img],
        error: null,
      });
      expect(r.tags[0]?.historyTag).toMatch(/^3\.20-\d{8}T\d{4}Z(-\d+)?$/);
      expect(countsOf(since)).toEqual({ heads: 1, getsByTag: 0, getsByDigest: 1 });
    }
    const h = await cli("history", `${ALPINE}:3.20`, "--json");
    const view = JSON.parse(h.stdout) as {
      current: string;
      history: { historyTag: string; digest: string }[];
    };
    expect(view.current).toBe(rel[2]);
    expect(view.history.map((x) => x.digest)).toEqual([rel[1], rel[0]]);
    // the history tags are real tags of the target
    for (const x of view.history)
      expect(sha256(await rawThroughWharf(`${ALPINE}:${x.historyTag}`))).toBe(x.digest);
    expect(sha256(await rawThroughWharf(`${ALPINE}:3.20`))).toBe(rel[2]);
  });

  it("copies every platform of an index (and only the selected ones into a filtered index)", async () => {
    const multi = readManifestDigests("multi");
    const r = await sync(MULTI, ARM);
    expect(r.code).toBe(0);
    const all = r.tags.find((t) => t.target === MULTI);
    expect(all).toMatchObject({ tag: "1", error: null });
    // the scheduled sync may have copied it already; either way the target holds the upstream index
    expect(all?.current).toBe(multi.manifest);
    expect(sha256(await rawThroughWharf(`${MULTI}:1`))).toBe(multi.manifest);
    for (const child of multi.manifests)
      expect(sha256(await rawThroughWharf(`${MULTI}@${child.manifest}`))).toBe(child.manifest);

    const arm = r.tags.find((t) => t.target === ARM);
    expect(arm).toMatchObject({ tag: "1", changed: true, error: null, platforms: ["linux/arm64/v8"] });
    const index = JSON.parse(await rawThroughWharf(`${ARM}:1`)) as { manifests: { digest: string }[] };
    const armChild = multi.manifests.find((m) => m.platform?.startsWith("linux/arm64"));
    expect(index.manifests.map((m) => m.digest)).toEqual([armChild?.manifest]);
    expect(sha256(await rawThroughWharf(`${ARM}@${armChild?.manifest}`))).toBe(armChild?.manifest);
    const amd = multi.manifests.find((m) => m.platform === "linux/amd64");
    const missing = await runSkopeo(
      ["inspect", "--raw", "--tls-verify=false", `docker://${wharfIp}:5000/${ARM}@${amd?.manifest}`],
      { allowFailure: true },
    );
    expect(missing.code).not.toBe(0);
    // both entries and the scheduled syncs share one store: no blob of the index came twice
    const blobs = new Set(multi.manifests.flatMap((m) => [m.config, ...m.layers]));
    const blobGets = proxy.count((x) => x.method === "GET" && x.path.startsWith("/v2/library/multi/blobs/"));
    expect(blobGets).toBe(blobs.size);
  });

  it("pin holds the tag while upstream moves; rollback reaches pulls of the unchanged upstream name", async () => {
    let r0 = await cli("pin", `${ALPINE}:3.20`);
    expect(r0.code, r0.stderr).toBe(0);
    await release(0); // upstream goes back to an old digest: a change the pin must hold off
    const r = await sync(ALPINE);
    expect(r.code).toBe(0);
    expect(r.tags[0]).toMatchObject({ pinned: true, changed: false, current: rel[2], upstream: rel[0] });
    expect(r.tags[0]?.note).toContain("upstream moved");

    r0 = await cli("rollback", `${ALPINE}:3.20`);
    expect(r0.code, r0.stderr).toBe(0);
    expect(sha256(await rawThroughWharf(`${ALPINE}:3.20`))).toBe(rel[1]);
    // a builder pulling docker.io/library/alpine:3.20 gets the rolled-back digest, not upstream's
    // (the server notices the CLI's change within a second)
    let served = "";
    for (let i = 0; i < 20 && served !== rel[1]; i++) {
      served = sha256(await rawThroughWharf("docker.io/library/alpine:3.20"));
      if (served !== rel[1]) await new Promise((res) => setTimeout(res, 300));
    }
    expect(served).toBe(rel[1]);

    r0 = await cli("unpin", `${ALPINE}:3.20`);
    expect(r0.code, r0.stderr).toBe(0);
    const after = await sync(ALPINE);
    expect(after.tags[0]).toMatchObject({ pinned: false, changed: true, previous: rel[1], current: rel[0] });
  });

  it("an upstream failing half-way leaves target and history as they were; the next sync completes", async () => {
    await release(3);
    const layer = readManifestDigests("img3", layout).layers[0] as string;
    proxy.setRule(layer, { kind: "status", status: 503, methods: ["GET"] });
    const before = snapshot("library/alpine");
    const failed = await sync(ALPINE);
    expect(failed.code).toBe(1);
    expect(failed.ok).toBe(false);
    expect(failed.tags[0]?.error).toBeTruthy();
    expect(failed.tags[0]?.current).toBe(rel[0]);
    const after = snapshot("library/alpine").split("\n");
    // blob rows may gain the image's config (cached, not linked): compare what the target serves
    expect(after.slice(0, 4)).toEqual(before.split("\n").slice(0, 4));
    proxy.clear();
    const ok = await sync(ALPINE);
    expect(ok.code).toBe(0);
    expect(ok.tags[0]).toMatchObject({ changed: true, previous: rel[0], current: rel[3], error: null });
  });

  it("--dry-run reports and changes nothing", async () => {
    await release(1);
    const files = await storeFiles();
    const before = snapshot("library/alpine");
    const r = await sync("--dry-run", ALPINE);
    expect(r.code).toBe(0);
    expect(r.tags[0]).toMatchObject({ changed: true, current: rel[3], upstream: rel[1] });
    expect(snapshot("library/alpine")).toBe(before);
    expect(await storeFiles()).toEqual(files);
  });

  it("a schedule inside wharf serve shows in /metrics and on the status page", async () => {
    const admin = `http://${wharfIp}:9090`;
    const metric = async () => {
      const text = await (await fetch(`${admin}/metrics`)).text();
      const m = new RegExp(`wharf_mirror_last_success_timestamp_seconds\\{entry="${MULTI}"\\} (\\S+)`).exec(
        text,
      );
      return { text, last: m ? Number(m[1]) : undefined };
    };
    const first = await metric();
    expect(first.last).toBeGreaterThan(0);
    expect(first.text).toMatch(new RegExp(`wharf_mirror_changes_total\\{entry="${ALPINE}"\\} [1-9]`));
    expect(first.text).toMatch(new RegExp(`wharf_mirror_failures_total\\{entry="${ALPINE}"\\} 1`));
    // runs again within its 3 s schedule (plus jitter)
    let later = first;
    for (let i = 0; i < 30 && later.last === first.last; i++) {
      await new Promise((res) => setTimeout(res, 300));
      later = await metric();
    }
    expect(later.last).toBeGreaterThan(first.last as number);

    let browser: Browser | undefined;
    try {
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          "--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--disable-background-networking",
          // only wharf's address: nothing the browser might look up on its own leaves the machine
          `--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE ${wharfIp}`,
        ],
      });
      const page = await browser.newPage();
      await page.goto(`${admin}/`);
      const row = page.locator(`[data-testid="mirror-tag"][data-entry="${MULTI}"]`);
      await row.first().waitFor({ timeout: 10_000 });
      const multi = readManifestDigests("multi");
      expect(await row.locator('[data-testid="mirror-digest"]').getAttribute("data-value")).toBe(
        multi.manifest,
      );
      const alpine = page.locator(`[data-testid="mirror-tag"][data-entry="${ALPINE}"]`);
      expect(await alpine.locator('[data-testid="mirror-digest"]').getAttribute("data-value")).toBe(rel[3]);
      expect(await page.locator("#mirror").isVisible()).toBe(true);
    } finally {
      await browser?.close();
    }
  });
});
