// Issue 13, failure 2: a Range request for a blob that is not cached yet must never be answered
// with bytes whose digest has not been checked. A tamper proxy flips the middle byte of a 40 MiB
// layer; curl asks for 20 bytes around it over HTTP/1.1 and HTTP/2 through the TLS gateway. The
// upstream's log shows how many fetches the ranged requests cost. A ranged request waits for its
// fill's verification: with a slow upstream that wait outlasts limits.idleTimeout (2 s here), which
// must not drop the client, while a connection with nothing in flight is still closed.
import { readFile } from "node:fs/promises";
import { connect as h2connect } from "node:http2";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitForCount } from "../support/access-log.ts";
import {
  HUB,
  hubGatewayConfig,
  type LoopbackInternet,
  startLoopbackInternet,
} from "../support/loopback-internet.ts";
import { loopbackIp } from "../support/ports.ts";
import { pushRandomImages, type RandomLayer } from "../support/random-images.ts";
import { runCommand } from "../support/run-command.ts";
import { makeTempDir, type TempDir } from "../support/temp-dir.ts";
import { wharfCertDir } from "../support/wharf-client.ts";
import { startWharf, type WharfProcess } from "../support/wharf-process.ts";

const REPO = "library/ranged";

let net: LoopbackInternet;
let wharf: WharfProcess;
let tmp: TempDir;
let wharfIp: string;
let caFile: string;
type Layer = RandomLayer;
let layer: Layer;
/** Left uncached for the idle-timeout test. */
let slowLayer: Layer;
const IDLE_TIMEOUT_MS = 2000;

beforeAll(async () => {
  tmp = await makeTempDir("wharf-e2e-ranged-");
  net = await startLoopbackInternet({ push: [] });
  [layer, slowLayer] = (await pushRandomImages(net, {
    layout: join(tmp.path, "random"),
    count: 2,
    mib: 40,
    reference: (i) => `${REPO}:${i + 1}`,
  })) as [Layer, Layer];
  wharfIp = loopbackIp();
  wharf = await startWharf({
    config: await hubGatewayConfig(net, {
      ip: wharfIp,
      dataDir: join(tmp.path, "data"),
      config: { limits: { idleTimeout: `${IDLE_TIMEOUT_MS}ms` } },
    }),
  });
  caFile = join(await wharfCertDir(join(tmp.path, "data"), join(tmp.path, "wharf-ca")), "ca.crt");
}, 180_000);

afterAll(async () => {
  await wharf?.stop();
  await net?.stop();
  await tmp?.remove();
});

/** curl through the TLS gateway; the body goes to a file (binary), status and exit code come back. */
/** "plain": HTTP/1.1 on the plain-HTTP listener (listen.http) instead of the TLS gateway. */
async function rangedCurl(
  http: "--http1.1" | "--http2" | "plain",
  range: string,
  out: string,
  digest = layer.digest,
) {
  const path = `/v2/${REPO}/blobs/${digest}`;
  const target =
    http === "plain"
      ? ["--http1.1", `${wharf.httpUrl}${path}`]
      : [http, "--cacert", caFile, "--resolve", `${HUB}:443:${wharfIp}`, `https://${HUB}${path}`];
  const r = await runCommand(
    [
      "curl",
      "-sS",
      "--fail",
      "--noproxy",
      "*",
      "--max-time",
      "60",
      "-H",
      `Range: ${range}`,
      "-o",
      out,
      "-w",
      "%{http_code} %{http_version}",
      ...target,
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

  it("keep clients waiting for a slow fill past limits.idleTimeout (TLS and plain listeners); idle connections still close", async () => {
    const mark = net.hubProxy.mark();
    // About 6 s for the fill: three idle timeouts of waiting with nothing sent.
    net.hubProxy.setRule(slowLayer.digest, { kind: "slow", bytesPerSecond: Math.ceil(slowLayer.size / 6) });
    try {
      const start = Math.floor(slowLayer.size / 3);
      const ranges = [0, 5_000_000, 10_000_000].map((s) => ({ start: start + s, end: start + s + 65_535 }));
      const t0 = Date.now();
      const results = await Promise.all(
        (["--http1.1", "--http2", "plain"] as const).map((http, i) => {
          const r = ranges[i] as { start: number; end: number };
          return rangedCurl(http, `bytes=${r.start}-${r.end}`, join(tmp.path, `slow${i}`), slowLayer.digest);
        }),
      );
      const waitedMs = Date.now() - t0;
      expect(waitedMs, "the fill was slow").toBeGreaterThan(3 * IDLE_TIMEOUT_MS - 1000);
      results.forEach((res, i) => {
        const r = ranges[i] as { start: number; end: number };
        expect(res.code, `client ${i} (${res.version})`).toBe(0);
        expect(res.status, `client ${i}`).toBe(206);
        expect(res.body.equals(slowLayer.bytes.subarray(r.start, r.end + 1)), `client ${i} bytes`).toBe(true);
      });
      expect(
        net.hubProxy.count(
          { method: "GET", status: 200, path: `/v2/${REPO}/blobs/${slowLayer.digest}` },
          mark,
        ),
      ).toBe(1);
    } finally {
      net.hubProxy.clear();
    }

    // HTTP/1.1 keep-alive after one request, and an HTTP/2 session: both closed by wharf when idle.
    const ca = await readFile(caFile);
    const sock = tlsConnect({ host: wharfIp, port: 443, servername: HUB, ca });
    await new Promise((r) => sock.once("secureConnect", r));
    sock.write(`GET /v2/ HTTP/1.1\r\nHost: ${HUB}\r\n\r\n`);
    let answer = "";
    sock.on("data", (d: Buffer) => {
      answer += d.toString();
    });
    const h1Start = Date.now();
    await new Promise((r) => sock.once("close", r));
    expect(answer).toMatch(/^HTTP\/1\.1 (200|401)/);
    const h1IdleMs = Date.now() - h1Start;
    const session = h2connect(`https://${HUB}`, {
      createConnection: () =>
        tlsConnect({ host: wharfIp, port: 443, servername: HUB, ca, ALPNProtocols: ["h2"] }),
    });
    const h2Errors: Error[] = [];
    session.on("error", (e) => h2Errors.push(e));
    await new Promise((r) => session.once("remoteSettings", r));
    const h2Start = Date.now();
    await new Promise((r) => session.once("close", r));
    const h2IdleMs = Date.now() - h2Start;
    expect(h2Errors).toEqual([]);
    for (const [what, ms] of [
      ["HTTP/1.1", h1IdleMs],
      ["HTTP/2", h2IdleMs],
    ] as const) {
      expect(ms, what).toBeGreaterThan(IDLE_TIMEOUT_MS - 500);
      expect(ms, what).toBeLessThan(IDLE_TIMEOUT_MS + 3000);
    }
  }, 120_000);
});
