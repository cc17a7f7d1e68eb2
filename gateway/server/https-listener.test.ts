import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import type { Http2SecureServer } from "node:http2";
import { connect as h2connect } from "node:http2";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type TLSSocket, connect as tlsConnect } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Ca, loadOrCreateCa } from "../../certs/certificate-authority.ts";
import { LeafCertificates } from "../../certs/leaf-certificates.ts";
import { createHttpsListener, type HttpsListenerOptions, listen, servernameOf } from "./https-listener.ts";

/** Runs a tool with stdin closed (s_client then exits after the handshake); stdout and stderr together. */
function tool(cmd: string, args: string[]): Promise<{ code: number | null; text: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], timeout: 10_000 });
    let text = "";
    child.stdout.on("data", (d: Buffer) => {
      text += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      text += d.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, text }));
  });
}
const GROUPS = {
  "docker.io": ["docker.io", "registry-1.docker.io", "index.docker.io"],
  "ghcr.io": ["ghcr.io"],
};

let tmp: string;
let ca: Ca;
let certs: LeafCertificates;
let server: Http2SecureServer;
let port: number;
const unknown: string[] = [];

/** Answers every request with what the gateway's handler would look at. */
const echo: HttpsListenerOptions["requestListener"] = (req, res) => {
  res.setHeader("content-type", "application/json");
  res.end(JSON.stringify({ servername: servernameOf(req), httpVersion: req.httpVersion, url: req.url }));
};

async function start(
  opts: Partial<HttpsListenerOptions> = {},
): Promise<{ server: Http2SecureServer; port: number }> {
  const s = createHttpsListener({ certs, requestListener: echo, ...opts });
  const address = await listen(s, "127.0.0.1", 0);
  return { server: s, port: address.port };
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "wharf-https-"));
  ca = await loadOrCreateCa({ dir: tmp, hostname: "test" });
  await writeFile(join(tmp, "ca.pem"), ca.certPem);
  certs = new LeafCertificates({
    ca,
    dir: tmp,
    groups: GROUPS,
    validityMs: 86_400_000 * 30,
    renewBeforeMs: 0,
  });
  await certs.prepare();
  ({ server, port } = await start({ onUnknownServername: (n) => unknown.push(n) }));
});

afterAll(async () => {
  server?.close();
  await rm(tmp, { recursive: true, force: true });
});

/** A TLS handshake; resolves with the socket's outcome, or rejects with the handshake error. */
function handshake(opts: {
  servername?: string;
  alpn?: string[];
  minVersion?: string;
  maxVersion?: string;
  ciphers?: string;
}) {
  return new Promise<TLSSocket>((resolve, reject) => {
    const sock = tlsConnect({
      host: "127.0.0.1",
      port,
      ca: ca.certPem,
      ...(opts.servername ? { servername: opts.servername } : {}),
      ALPNProtocols: opts.alpn,
      minVersion: opts.minVersion as "TLSv1" | undefined,
      maxVersion: opts.maxVersion as "TLSv1.1" | undefined,
      ciphers: opts.ciphers,
    });
    sock.once("secureConnect", () => resolve(sock));
    sock.once("error", reject);
  });
}

describe("createHttpsListener", () => {
  it("serves HTTP/2 chosen by ALPN, and servernameOf sees the SNI name", async () => {
    const session = h2connect(`https://127.0.0.1:${port}`, { ca: ca.certPem, servername: "ghcr.io" });
    try {
      const body = await new Promise<string>((resolve, reject) => {
        const req = session.request({ ":path": "/v2/" });
        let text = "";
        req.setEncoding("utf8");
        req.on("data", (d: string) => {
          text += d;
        });
        req.on("end", () => resolve(text));
        req.on("error", reject);
      });
      expect(session.alpnProtocol).toBe("h2");
      expect(JSON.parse(body)).toEqual({ servername: "ghcr.io", httpVersion: "2.0", url: "/v2/" });
    } finally {
      session.close();
    }
  });

  it("serves HTTP/1.1 to clients that do not offer h2", async () => {
    const body = await new Promise<string>((resolve, reject) => {
      const req = httpsRequest(
        {
          host: "127.0.0.1",
          port,
          path: "/v2/",
          servername: "Registry-1.Docker.IO",
          ca: ca.certPem,
          agent: false,
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (d: string) => {
            text += d;
          });
          res.on("end", () => resolve(text));
        },
      );
      req.on("error", reject);
      req.end();
    });
    expect(JSON.parse(body)).toEqual({ servername: "registry-1.docker.io", httpVersion: "1.1", url: "/v2/" });
  });

  it("presents a certificate that verifies against the CA for every alias", async () => {
    for (const name of Object.values(GROUPS).flat()) {
      const sock = await handshake({ servername: name });
      expect(sock.authorized, name).toBe(true);
      expect(sock.getPeerX509Certificate()?.checkHost(name)).toBe(name);
      sock.destroy();
    }
  });

  it("fails the handshake for an unknown SNI name and for none at all", async () => {
    // A TLS alert from the server, not a certificate the client had to reject.
    const alert = { code: expect.stringMatching(/^ERR_SSL_.*ALERT/) };
    await expect(handshake({ servername: "quay.io" })).rejects.toMatchObject(alert);
    expect(unknown).toEqual(["quay.io"]);
    await expect(handshake({})).rejects.toMatchObject(alert);
    // The same listener still works afterwards.
    (await handshake({ servername: "ghcr.io" })).destroy();
  });

  it("refuses TLS 1.1 even from a client willing to use it", async () => {
    // SECLEVEL=0 lets this client's OpenSSL speak TLS 1.1, so only the server can refuse it.
    const err = await handshake({
      servername: "ghcr.io",
      minVersion: "TLSv1",
      maxVersion: "TLSv1.1",
      ciphers: "DEFAULT@SECLEVEL=0",
    }).catch((e: NodeJS.ErrnoException) => e);
    expect(err).toBeInstanceOf(Error);
    expect(String((err as NodeJS.ErrnoException).code ?? err)).toMatch(/VERSION|PROTOCOL/i);
    const ok = await handshake({ servername: "ghcr.io", minVersion: "TLSv1.2", maxVersion: "TLSv1.2" });
    expect(ok.getProtocol()).toBe("TLSv1.2");
    ok.destroy();
  });

  it("verifies with openssl s_client and serves curl over HTTP/2", async () => {
    for (const name of ["registry-1.docker.io", "index.docker.io"]) {
      const out = await tool("openssl", [
        "s_client",
        "-connect",
        `127.0.0.1:${port}`,
        "-servername",
        name,
        "-CAfile",
        join(tmp, "ca.pem"),
        "-verify_hostname",
        name,
        "-verify_return_error",
      ]);
      expect(out.code, out.text).toBe(0);
      expect(out.text).toContain("Verify return code: 0 (ok)");
    }
    const wrongCa = await tool("openssl", [
      "s_client",
      "-connect",
      `127.0.0.1:${port}`,
      "-servername",
      "ghcr.io",
      "-CAfile",
      "/dev/null",
      "-verify_return_error",
    ]);
    expect(wrongCa.code).not.toBe(0);

    const curl = await tool("curl", [
      "-sS",
      "--http2",
      "--cacert",
      join(tmp, "ca.pem"),
      "--noproxy",
      "*",
      "--resolve",
      `ghcr.io:${port}:127.0.0.1`,
      `https://ghcr.io:${port}/v2/`,
      "-w",
      "\n%{http_version}",
    ]);
    expect(curl.code, curl.text).toBe(0);
    const [json, version] = curl.text.split("\n");
    expect(JSON.parse(json ?? "")).toMatchObject({ servername: "ghcr.io", httpVersion: "2.0" });
    expect(version).toBe("2");
  });

  it("closes HTTP/1.1 connections that never finish their headers, and idle HTTP/2 sessions", async () => {
    // The idle timeout well above the headers timeout: Node checks headers timeouts on a periodic
    // sweep (every 200 ms here), and on a loaded machine an idle close could otherwise come first.
    const slow = await start({ headersTimeoutMs: 400, idleTimeoutMs: 2500 });
    try {
      const sock = tlsConnect({ host: "127.0.0.1", port: slow.port, servername: "ghcr.io", ca: ca.certPem });
      await new Promise((r) => sock.once("secureConnect", r));
      sock.write("GET /v2/ HTTP/1.1\r\nHost: ghcr.io\r\n"); // never sends the blank line
      let answer = "";
      sock.on("data", (d: Buffer) => {
        answer += d.toString();
      });
      const t0 = Date.now();
      await new Promise((r) => sock.once("close", r));
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(answer).toMatch(/^HTTP\/1\.1 408/);

      const session = h2connect(`https://127.0.0.1:${slow.port}`, { ca: ca.certPem, servername: "ghcr.io" });
      session.on("error", () => {});
      const t1 = Date.now();
      await new Promise((r) => session.once("close", r));
      expect(Date.now() - t1).toBeLessThan(5000);
    } finally {
      slow.server.close();
    }
  });

  it("does not count a request waiting for wharf as idle, over HTTP/1.1 and on an HTTP/2 session with several streams", async () => {
    // The handler answers after three idle timeouts; a connection with nothing in flight still closes.
    const waiting = await start({
      idleTimeoutMs: 500,
      requestListener: (req, res) => {
        const ms = req.url === "/slow" ? 1500 : 0;
        setTimeout(() => res.end(`done ${req.url}`), ms);
      },
    });
    try {
      // HTTP/1.1 keep-alive on a raw socket, so that only the server can close it.
      const sock = tlsConnect({
        host: "127.0.0.1",
        port: waiting.port,
        servername: "ghcr.io",
        ca: ca.certPem,
      });
      await new Promise((r) => sock.once("secureConnect", r));
      sock.write("GET /slow HTTP/1.1\r\nHost: ghcr.io\r\n\r\n");
      let answer = "";
      let answeredAt = 0;
      sock.on("data", (d: Buffer) => {
        answer += d.toString();
        if (answer.endsWith("done /slow")) answeredAt = Date.now();
      });
      await new Promise((r) => sock.once("close", r));
      const h1 = { answer, closedAfterMs: Date.now() - answeredAt };
      expect(h1.answer).toMatch(/^HTTP\/1\.1 200[\s\S]*done \/slow$/);
      expect(h1.closedAfterMs).toBeLessThan(2000); // idle keep-alive: closed by the server

      const session = h2connect(`https://127.0.0.1:${waiting.port}`, {
        ca: ca.certPem,
        servername: "ghcr.io",
      });
      session.on("error", () => {});
      const fetch = (path: string) =>
        new Promise<string>((resolve, reject) => {
          const s = session.request({ ":path": path });
          let body = "";
          s.on("data", (d: Buffer) => {
            body += d.toString();
          });
          s.on("end", () => resolve(body));
          s.on("error", reject);
        });
      // A quick stream finishing while the slow one waits must not bring the timeout back.
      const [slow, quick] = await Promise.all([fetch("/slow"), fetch("/quick")]);
      expect([slow, quick]).toEqual(["done /slow", "done /quick"]);
      const t1 = Date.now();
      await new Promise((r) => session.once("close", r));
      expect(Date.now() - t1).toBeLessThan(2000);
    } finally {
      waiting.server.close();
    }
  });
});
