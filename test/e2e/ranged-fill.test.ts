// Issue 13, failure 2: a Range request for a blob that is not cached yet must never be answered
// with bytes whose digest has not been checked. A tamper proxy flips the middle byte of a 40 MiB
// layer; curl asks for 20 bytes around it over HTTP/1.1 and HTTP/2 through the TLS gateway. The
// upstream's log shows how many fetches the ranged requests cost.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitForCount } from "../support/access-log.ts";
import {
  type LoopbackInternet,
  PRIVATE_PASSWORD,
  PRIVATE_USER,
  startLoopbackInternet,
} from "../support/loopback-internet.ts";
import { freePort, loopbackIp } from "../support/ports.ts";
import { runCommand } from "../support/run-command.ts";
import { runSkopeo } from "../support/skopeo.ts";
import { makeTempDir, type TempDir } from "../support/temp-dir.ts";
import { wharfCertDir } from "../support/wharf-client.ts";
import { startWharf, type WharfProcess } from "../support/wharf-process.ts";

const RANDOM_IMAGES = fileURLToPath(new URL("../support/random-images.sh", import.meta.url));
const HUB = "registry-1.docker.io";
const REPO = "library/ranged";

let net: LoopbackInternet;
let wharf: WharfProcess;
let tmp: TempDir;
let wharfIp: string;
let caFile: string;
let layer: { digest: string; size: number; bytes: Buffer };

/** The single layer of image 0 of a random-images.sh layout. */
async function layerOf(layout: string): Promise<{ digest: string; size: number }> {
  const blob = async (d: string) =>
    JSON.parse(await readFile(join(layout, "blobs", d.replace(":", "/")), "utf8"));
  const index = JSON.parse(await readFile(join(layout, "index.json"), "utf8"));
  const manifest = await blob(index.manifests[0].digest);
  return manifest.layers[0];
}

beforeAll(async () => {
  tmp = await makeTempDir("wharf-e2e-ranged-");
  net = await startLoopbackInternet({ push: [] });
  const layout = join(tmp.path, "random");
  await runCommand(["bash", RANDOM_IMAGES, layout, "1", "40"]);
  await runSkopeo([
    "copy",
    "--dest-cert-dir",
    net.ca.certDir,
    "--dest-creds",
    `${PRIVATE_USER}:${PRIVATE_PASSWORD}`,
    `oci:${layout}:img0`,
    `docker://${new URL(net.hub.url).host}/${REPO}:1`,
  ]);
  const l = await layerOf(layout);
  layer = { ...l, bytes: await readFile(join(layout, "blobs", l.digest.replace(":", "/"))) };
  wharfIp = loopbackIp();
  wharf = await startWharf({
    config: {
      dataDir: join(tmp.path, "data"),
      listen: { http: `${wharfIp}:5000`, https: `${wharfIp}:443`, dns: null, admin: null },
      upstreamCaFile: net.ca.caCert,
      upstreamDns: `127.0.0.1:${await freePort()}`,
      cache: { prefetch: 0 },
      registries: { "docker.io": { upstream: net.hubProxy.url, aliases: [HUB] } },
    },
  });
  caFile = join(await wharfCertDir(join(tmp.path, "data"), join(tmp.path, "wharf-ca")), "ca.crt");
}, 180_000);

afterAll(async () => {
  await wharf?.stop();
  await net?.stop();
  await tmp?.remove();
});

/** curl through the TLS gateway; the body goes to a file (binary), status and exit code come back. */
async function rangedCurl(http: "--http1.1" | "--http2", range: string, out: string) {
  const r = await runCommand(
    [
      "curl",
      "-sS",
      "--fail",
      http,
      "--noproxy",
      "*",
      "--max-time",
      "60",
      "--cacert",
      caFile,
      "--resolve",
      `${HUB}:443:${wharfIp}`,
      "-H",
      `Range: ${range}`,
      "-o",
      out,
      "-w",
      "%{http_code} %{http_version}",
      `https://${HUB}/v2/${REPO}/blobs/${layer.digest}`,
    ],
    { allowFailure: true, timeoutMs: 90_000 },
  );
  const [status, version] = r.stdout.trim().split(" ");
  const body = await readFile(out).catch(() => Buffer.alloc(0));
  return { code: r.code, status: Number(status), version, body };
}

const blobGets = (since: number) =>
  net.hubProxy.count({ method: "GET", status: 200, path: `/v2/${REPO}/blobs/${layer.digest}` }, since);

describe("ranged requests on a blob being filled", () => {
  it("never answer 206 with bytes of a blob that fails its digest (HTTP/1.1 and HTTP/2)", async () => {
    const mid = Math.floor(layer.size / 2); // the byte the tamper proxy flips
    const range = `bytes=${mid - 10}-${mid + 9}`;
    net.hubProxy.setRule(layer.digest, { kind: "corrupt" });
    try {
      for (const http of ["--http1.1", "--http2"] as const) {
        const mark = net.hubProxy.mark();
        const r = await rangedCurl(http, range, join(tmp.path, `tampered${http}`));
        expect(r.version).toBe(http === "--http2" ? "2" : "1.1");
        expect(r.status, `${http}: status`).not.toBe(206);
        expect(r.status, `${http}: status`).toBeGreaterThanOrEqual(500);
        expect(r.code, `${http}: curl exit code`).not.toBe(0);
        expect(r.body.equals(layer.bytes.subarray(mid - 10, mid + 10))).toBe(false);
        expect(await waitForCount(() => blobGets(mark), 1)).toBe(1);
      }
    } finally {
      net.hubProxy.clear();
    }
  }, 120_000);

  it("share one upstream fetch and get the right bytes once verified", async () => {
    const mark = net.hubProxy.mark();
    const ranges = Array.from({ length: 8 }, (_, i) => {
      const start = Math.floor((layer.size / 8) * i) + 1234;
      return { start, end: start + 99_999 };
    });
    const results = await Promise.all(
      ranges.map((r, i) =>
        rangedCurl(i % 2 ? "--http2" : "--http1.1", `bytes=${r.start}-${r.end}`, join(tmp.path, `ok${i}`)),
      ),
    );
    results.forEach((res, i) => {
      const r = ranges[i] as { start: number; end: number };
      expect(res.code, `client ${i}`).toBe(0);
      expect(res.status, `client ${i}`).toBe(206);
      expect(res.body.equals(layer.bytes.subarray(r.start, r.end + 1)), `client ${i} bytes`).toBe(true);
    });
    expect(await waitForCount(() => blobGets(mark), 1)).toBe(1);
    // now cached: a suffix range is a hit, and a multi-range header is ignored (RFC 9110 14.2)
    const tail = await rangedCurl("--http2", "bytes=-16", join(tmp.path, "tail"));
    expect(tail.status).toBe(206);
    expect(tail.body.equals(layer.bytes.subarray(layer.size - 16))).toBe(true);
    const multi = await rangedCurl("--http1.1", "bytes=0-1,5-6", join(tmp.path, "multi"));
    expect(multi.status).toBe(200);
    expect(multi.body.equals(layer.bytes)).toBe(true);
    const beyond = await rangedCurl("--http1.1", `bytes=${layer.size}-`, join(tmp.path, "beyond"));
    expect(beyond.status).toBe(416);
    expect(blobGets(mark)).toBe(1);
  }, 120_000);
});
