// sendFile against real Node servers (HTTP/1.1 and cleartext HTTP/2) and real clients: whole files
// and ranges arrive intact, a body is always released (sent, failed, or the client left), and a
// body that fails mid-way never completes the response.
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, writeFile } from "node:fs/promises";
import { createServer, type Server, type ServerResponse } from "node:http";
import { connect, createServer as createH2Server, type Http2Server } from "node:http2";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FileBody, storedFileBody } from "../cache/file-body.ts";
import { type NodeResponse, sendFile } from "./write-reply.ts";

const data = randomBytes(3 * 1024 * 1024 + 123);
let file: string;
let h1: Server;
let h2: Http2Server;
let next: (res: NodeResponse) => Promise<void>;

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const port = (s: Server | Http2Server) => (s.address() as AddressInfo).port;

beforeAll(async () => {
  file = join(await mkdtemp(join(tmpdir(), "wharf-send-")), "blob");
  await writeFile(file, data);
  h1 = createServer((_req, res) => void next(res));
  h2 = createH2Server((_req, res) => void next(res));
  await new Promise<void>((r) => h1.listen(0, "127.0.0.1", r));
  await new Promise<void>((r) => h2.listen(0, "127.0.0.1", r));
});

afterAll(() => {
  h1.close();
  h2.close();
});

/** Serves `body` once and reports what sendFile did. */
function serve(body: FileBody): Promise<{ bytes?: number; error?: Error }> {
  return new Promise((resolve) => {
    next = async (res) => {
      (res as ServerResponse).writeHead(200, { "content-length": String(body.end - body.start + 1) });
      sendFile(res, body).then(
        (bytes) => resolve({ bytes }),
        (error: Error) => {
          res.destroy();
          resolve({ error });
        },
      );
    };
  });
}

async function getH1(): Promise<Buffer> {
  const res = await fetch(`http://127.0.0.1:${port(h1)}/`);
  return Buffer.from(await res.arrayBuffer());
}

function getH2(): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const session = connect(`http://127.0.0.1:${port(h2)}`);
    const chunks: Buffer[] = [];
    const req = session.request({ ":path": "/" });
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      session.close();
      resolve(Buffer.concat(chunks));
    });
    req.on("error", reject);
  });
}

describe("sendFile", () => {
  for (const [name, get] of [
    ["HTTP/1.1", getH1],
    ["HTTP/2", getH2],
  ] as const) {
    it(`sends a whole file and a range over ${name}, then releases the body`, async () => {
      let released = 0;
      const whole = serve(storedFileBody(file, 0, data.length - 1, () => released++));
      expect(sha(await get())).toBe(sha(data));
      expect(await whole).toEqual({ bytes: data.length });
      const range = serve(storedFileBody(file, 1000, 600_000, () => released++));
      expect((await get()).equals(data.subarray(1000, 600_001))).toBe(true);
      expect(await range).toEqual({ bytes: 599_001 });
      expect(released).toBe(2);
    });
  }

  it("stops and releases the body when the client leaves mid-way", async () => {
    let released = 0;
    const served = serve(storedFileBody(file, 0, data.length - 1, () => released++));
    const ac = new AbortController();
    const res = await fetch(`http://127.0.0.1:${port(h1)}/`, { signal: ac.signal });
    await (res.body as ReadableStream<Uint8Array>).getReader().read();
    ac.abort();
    expect((await served).error).toBeInstanceOf(Error);
    expect(released).toBe(1);
  });

  it("follows a body that grows, and fails (releasing it) when its source breaks", async () => {
    let limit = 100_000;
    let broken = false;
    let released = 0;
    const waiters: (() => void)[] = [];
    const growing: FileBody = {
      ...storedFileBody(file, 0, data.length - 1, () => released++),
      readable: (pos) =>
        new Promise((resolve, reject) => {
          const check = () =>
            broken ? reject(new Error("fill failed")) : limit > pos ? resolve(limit) : waiters.push(check);
          check();
        }),
    };
    const served = serve(growing);
    const got = getH1().catch((e: Error) => e);
    for (const step of [1_000_000, 2_000_000]) {
      await new Promise((r) => setTimeout(r, 20));
      limit = step;
      for (const w of waiters.splice(0)) w();
    }
    broken = true;
    for (const w of waiters.splice(0)) w();
    expect((await served).error?.message).toBe("fill failed");
    expect(await got).toBeInstanceOf(Error); // cut short: never a complete, wrong download
    expect(released).toBe(1);
  });
});
