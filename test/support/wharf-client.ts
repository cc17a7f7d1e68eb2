// What tests need to talk to a running wharf: its CA as a skopeo/docker cert dir, a raw HTTP/1.1
// request (for hostile input no well-behaved client would send), and digest-checked downloads.
import { createHash } from "node:crypto";
import { copyFile, mkdir } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";

/** A directory holding wharf's CA as ca.crt (for skopeo --cert-dir / certs.d). */
export async function wharfCertDir(dataDir: string, into: string): Promise<string> {
  await mkdir(into, { recursive: true });
  await copyFile(join(dataDir, "ca.crt"), join(into, "ca.crt"));
  return into;
}

/** Sends `head` (request line + headers, CRLF-separated, no trailing blank line) as is. */
export function rawHttp(host: string, port: number, head: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const s = connect(port, host);
    let data = "";
    s.setTimeout(10_000, () => s.destroy(new Error("raw request timed out")));
    s.on("connect", () => s.write(`${head}\r\nConnection: close\r\n\r\n`));
    s.on("data", (c) => {
      data += c.toString("latin1");
    });
    // A server may answer and reset at once (431 for oversized headers): keep what arrived.
    s.on("error", (e) => (data ? s.destroy() : reject(e)));
    s.on("close", () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0), text: data }));
  });
}

/** GETs `url` and returns the sha256 digest of the body (throws if the body is cut short). */
export async function fetchDigest(
  url: string,
  init: RequestInit = {},
): Promise<{ status: number; digest: string; bytes: number }> {
  const res = await fetch(url, init);
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { status: res.status, digest: `sha256:${hash.digest("hex")}`, bytes };
}
