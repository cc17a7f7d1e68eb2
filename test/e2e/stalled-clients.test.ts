// Issue 13, failure 4: clients that stop reading a blob are dropped after limits.sendTimeout
// (HTTP/1.1 over TLS and plain HTTP: the connection; HTTP/2: only the stalled stream), the file
// handle is closed, and open connections are bounded by limits.maxConnections, all visible in
// /metrics. A real wharf process, a real upstream registry holding a 64 MiB blob, raw clients.
import { createHash, randomBytes } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { connect as http2Connect } from "node:http2";
import { connect as netConnect, type Socket } from "node:net";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, loopbackIp } from "../support/ports.ts";
import { makeTempDir, type TempDir } from "../support/temp-dir.ts";
import { makeTestCa, type TestCa } from "../support/test-ca.ts";
import { startUpstreamRegistry, type UpstreamRegistry } from "../support/upstream-registry.ts";
import { startWharf, type WharfProcess } from "../support/wharf-process.ts";

const NAME = "registry.test";
const REPO = "test/big";
const SIZE = 64 * 1024 * 1024;
const MAX_CONNECTIONS = 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let tmp: TempDir;
let ca: TestCa;
let upstream: UpstreamRegistry;
let wharf: WharfProcess;
let wharfIp: string;
let wharfCa: Buffer;
let digest: string;
let blobPath: string;

async function pushBlob(url: string, caPem: Buffer, blob: Buffer): Promise<string> {
  const d = `sha256:${createHash("sha256").update(blob).digest("hex")}`;
  const agent = new Agent({ connect: { ca: caPem } });
  try {
    const start = await request(`${url}/v2/${REPO}/blobs/uploads/`, { method: "POST", dispatcher: agent });
    await start.body.dump();
    expect(start.statusCode).toBe(202);
    const location = new URL(String(start.headers.location), url);
    location.searchParams.set("digest", d);
    const put = await request(location, { method: "PUT", body: blob, dispatcher: agent });
    await put.body.dump();
    expect(put.statusCode).toBe(201);
  } finally {
    await agent.close();
  }
  return d;
}

async function getDigest(url: string, agent: Agent, headers: Record<string, string> = {}): Promise<string> {
  const res = await request(url, { dispatcher: agent, headers });
  expect(res.statusCode).toBe(200);
  const hash = createHash("sha256");
  for await (const chunk of res.body) hash.update(chunk as Buffer);
  return `sha256:${hash.digest("hex")}`;
}

const fdCount = async () => (await readdir(`/proc/${wharf.pid}/fd`)).length;
/** File descriptors of wharf that point at the cached blob's file. */
async function blobFds(): Promise<number> {
  let n = 0;
  for (const fd of await readdir(`/proc/${wharf.pid}/fd`).catch(() => [] as string[])) {
    const target = await import("node:fs/promises")
      .then((fs) => fs.readlink(`/proc/${wharf.pid}/fd/${fd}`))
      .catch(() => "");
    if (target === blobPath) n++;
  }
  return n;
}

async function metric(name: string, listener: string): Promise<number> {
  const admin = (wharf.config.listen as { admin: string }).admin;
  const text = await (await fetch(`http://${admin}/metrics`)).text();
  const m = new RegExp(`^${name}\\{listener="${listener}"\\} (\\d+)`, "m").exec(text);
  return Number(m?.[1] ?? Number.NaN);
}

async function waitFor(what: string, ok: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/**
 * Sends a GET for the blob and stops reading once the response headers are in. A client that reads
 * nothing also never sees the server's FIN or RST: `resume()` reads on, and `closed` then resolves
 * with the body bytes that arrived.
 */
function stalledGet(socket: Socket): Promise<{ status: number; closed: Promise<number> }> {
  let body = -1;
  const closed = new Promise<number>((resolve) => socket.once("close", () => resolve(body)));
  socket.on("error", () => {});
  socket.write(`GET /v2/${REPO}/blobs/${digest} HTTP/1.1\r\nHost: ${NAME}\r\n\r\n`);
  return new Promise((resolve, reject) => {
    let head = "";
    socket.on("data", (c: Buffer) => {
      if (body >= 0) {
        body += c.length;
        return;
      }
      head += c.toString("latin1");
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      body = Buffer.byteLength(head, "latin1") - end - 4;
      socket.pause(); // from here on the client reads nothing: the server's writes stop draining
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), closed });
    });
    void closed.then(() => reject(new Error("closed before the response headers")));
  });
}

/** Waits until the send-timeout counter of `listener` passes `before`; returns the ms it took. */
async function timedOut(listener: string, before: number): Promise<number> {
  const t0 = Date.now();
  await waitFor(
    `a send timeout on ${listener}`,
    async () => (await metric("wharf_send_timeouts_total", listener)) > before,
  );
  return Date.now() - t0;
}

beforeAll(async () => {
  tmp = await makeTempDir("wharf-e2e-stalled-");
  const upIp = loopbackIp();
  wharfIp = loopbackIp();
  ca = await makeTestCa(join(tmp.path, "pki"), { dnsNames: ["upstream.test"], ips: [upIp] });
  upstream = await startUpstreamRegistry({ host: upIp, cert: ca.cert, key: ca.key });
  digest = await pushBlob(upstream.url, await readFile(ca.caCert), randomBytes(SIZE));
  const dataDir = join(tmp.path, "data");
  wharf = await startWharf({
    config: {
      dataDir,
      listen: { http: `${wharfIp}:5000`, https: `${wharfIp}:443`, admin: `${wharfIp}:9090` },
      upstreamCaFile: ca.caCert,
      upstreamDns: `127.0.0.1:${await freePort()}`,
      defaultRegistry: NAME,
      registries: { [NAME]: { upstream: upstream.url } },
      limits: { sendTimeout: "2s", maxConnections: MAX_CONNECTIONS },
    },
  });
  wharfCa = await readFile(join(dataDir, "ca.crt"));
  // Cache the blob (plain HTTP mirror endpoint), then let every client connection go.
  const agent = new Agent();
  expect(await getDigest(`${wharf.httpUrl}/v2/${REPO}/blobs/${digest}`, agent)).toBe(digest);
  await agent.close();
  blobPath = join(dataDir, "blobs", "sha256", digest.slice(7, 9), digest.slice(7));
  // Only the readiness probe's keep-alive connection (test/support/wait-http.ts) stays open.
  await waitFor(
    "the warm-up connection to close",
    async () => (await metric("wharf_connections_open", "http")) <= 1,
  );
}, 120_000);

afterAll(async () => {
  await wharf?.stop();
  await upstream?.stop();
  await tmp?.remove();
});

describe("stalled clients", () => {
  it("closes a stalled HTTP/1.1 TLS connection, releases its fds, while a normal client is unaffected", async () => {
    const baseline = await fdCount();
    const timeoutsBefore = await metric("wharf_send_timeouts_total", "https");
    const socket = tlsConnect({
      host: wharfIp,
      port: 443,
      servername: NAME,
      ca: wharfCa,
      ALPNProtocols: ["http/1.1"],
    });
    await new Promise((r) => socket.once("secureConnect", r));
    const stalled = await stalledGet(socket);
    expect(stalled.status).toBe(200);
    await sleep(500);
    expect(await blobFds()).toBeGreaterThanOrEqual(1);
    // A normal client at the same time gets every byte.
    const agent = new Agent({ connect: { ca: wharfCa, servername: NAME } });
    const normal = getDigest(`https://${wharfIp}/v2/${REPO}/blobs/${digest}`, agent, { host: NAME });
    expect(await timedOut("https", timeoutsBefore)).toBeLessThan(8_000);
    expect(await normal).toBe(digest);
    await agent.close();
    expect(await metric("wharf_send_timeouts_total", "https")).toBe(timeoutsBefore + 1);
    // The client, reading again, finds its connection closed before the body was complete.
    socket.resume();
    expect(await stalled.closed).toBeLessThan(SIZE);
    await waitFor("wharf's fds back to baseline", async () => (await fdCount()) <= baseline);
    expect(await blobFds()).toBe(0);
    expect(wharf.logs().stdout).toContain("send timeout");
  }, 60_000);

  it("closes a stalled plain-HTTP connection", async () => {
    const before = await metric("wharf_send_timeouts_total", "http");
    const socket = netConnect(5000, wharfIp);
    await new Promise((r) => socket.once("connect", r));
    const stalled = await stalledGet(socket);
    expect(stalled.status).toBe(200);
    expect(await timedOut("http", before)).toBeLessThan(8_000);
    expect(await metric("wharf_send_timeouts_total", "http")).toBe(before + 1);
    socket.resume();
    expect(await stalled.closed).toBeLessThan(SIZE);
    await waitFor("the blob's file handle to close", async () => (await blobFds()) === 0);
  }, 60_000);

  it("resets only the stalled HTTP/2 stream; the session's other streams carry on", async () => {
    const before = await metric("wharf_send_timeouts_total", "https");
    const session = http2Connect(`https://${wharfIp}:443`, { ca: wharfCa, servername: NAME });
    session.on("error", () => {});
    const headers = { ":path": `/v2/${REPO}/blobs/${digest}`, ":authority": NAME };
    const stalled = session.request(headers);
    const opened = Date.now();
    const reset = new Promise<{ code: number; ms: number }>((resolve) =>
      stalled.once("close", () => resolve({ code: stalled.rstCode ?? -1, ms: Date.now() - opened })),
    );
    stalled.on("error", () => {});
    await new Promise((r) => stalled.once("response", r));
    stalled.pause(); // not consumed: its flow-control window is never reopened
    const normal = session.request(headers);
    const hash = createHash("sha256");
    normal.on("data", (c: Buffer) => hash.update(c));
    const normalDone = new Promise<void>((resolve, reject) => {
      normal.once("end", () => resolve());
      normal.once("error", reject);
    });
    await normalDone;
    expect(`sha256:${hash.digest("hex")}`).toBe(digest);
    const r = await reset;
    expect(r.code).toBe(8); // CANCEL
    expect(r.ms).toBeLessThan(8_000);
    expect(session.closed || session.destroyed).toBe(false);
    // The same session still serves requests.
    const after = session.request({ ":path": "/v2/", ":authority": NAME });
    after.resume();
    const status = await new Promise<number>((resolve) =>
      after.once("response", (h) => resolve(Number(h[":status"]))),
    );
    expect(status).toBe(200);
    session.close();
    expect(await metric("wharf_send_timeouts_total", "https")).toBe(before + 1);
    await waitFor("the blob's file handle to close", async () => (await blobFds()) === 0);
  }, 60_000);
});

describe("limits.maxConnections", () => {
  it("refuses connections beyond the bound at accept, and the gauge follows", async () => {
    await waitFor(
      "no open https connections",
      async () => (await metric("wharf_connections_open", "https")) === 0,
    );
    const refusedBefore = await metric("wharf_connections_refused_total", "https");
    const sockets: Socket[] = [];
    const closed = new Set<Socket>();
    for (let i = 0; i < 30; i++) {
      const s = netConnect(443, wharfIp);
      s.on("error", () => {});
      s.on("close", () => closed.add(s));
      sockets.push(s);
      await new Promise((r) => s.once("connect", r).once("close", r));
    }
    await waitFor("10 refused sockets to be closed", async () => closed.size >= 10, 5_000);
    await sleep(300);
    expect(closed.size).toBe(10);
    expect(await metric("wharf_connections_open", "https")).toBe(MAX_CONNECTIONS);
    expect(await metric("wharf_connections_refused_total", "https")).toBe(refusedBefore + 10);
    expect(wharf.logs().stdout).toContain("limits.maxConnections reached");
    for (const s of sockets) s.destroy();
    await waitFor("the gauge to drop", async () => (await metric("wharf_connections_open", "https")) === 0);
  }, 60_000);
});
