// gateway/log.ts redacts credentials by path as a second line of defence. This drives the real
// createLogger (JSON to a file) with the shapes wharf logs and checks no secret reaches the output.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Secret } from "../config/secret.ts";
import { createLogger } from "../log.ts";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "wharf-redact-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** Lines the async destination has written once `n` are there (it opens and flushes in the background). */
async function readLines(file: string, n: number): Promise<Record<string, unknown>[]> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const text = await readFile(file, "utf8").catch(() => "");
    const lines = text.split("\n").filter(Boolean);
    if (lines.length >= n) return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    if (Date.now() > deadline) throw new Error(`expected ${n} log lines, got ${lines.length}:\n${text}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("log redaction", () => {
  it("never writes passwords, tokens or Authorization headers", async () => {
    const file = join(dir, "wharf.log");
    const log = createLogger({ level: "debug", pretty: false, destination: file });
    const secrets = [
      "pw-top-1",
      "tok-top-2",
      "Bearer auth-top-3",
      "pw-nested-4",
      "tok-nested-5",
      "Basic aGVhZGVyLTY=",
      "Bearer req-7",
      "Bearer cap-8",
      "pw-secret-9",
      "at-10",
      "rt-11",
    ];
    log.info({ password: secrets[0], token: secrets[1], authorization: secrets[2] }, "top level");
    log.info({ body: { access_token: "at-10", refresh_token: "rt-11" } }, "token response");
    log.info(
      { auth: { username: "alice", password: secrets[3] }, upstream: { token: secrets[4] } },
      "one level down",
    );
    log.warn({ headers: { authorization: secrets[5], accept: "application/json" } }, "upstream request");
    log.debug({ req: { method: "GET", headers: { authorization: secrets[6] } } }, "client request");
    log.info({ headers: { Authorization: secrets[7] } }, "capitalised header");
    const child = log.child({ registry: "ghcr.io" });
    child.info(
      { credentials: { username: "alice", password: new Secret(secrets[8] as string) } },
      "credentials object",
    );
    const lines = await readLines(file, 7);
    const text = JSON.stringify(lines);
    for (const s of secrets) expect(text, s).not.toContain(s);
    // Redacted, not dropped: the operator sees that a value was there; other fields stay intact.
    expect(lines[0]).toMatchObject({
      password: "[Redacted]",
      token: "[Redacted]",
      authorization: "[Redacted]",
    });
    expect(lines[2]).toMatchObject({
      auth: { username: "alice", password: "[Redacted]" },
      upstream: { token: "[Redacted]" },
    });
    expect(lines[3]).toMatchObject({ headers: { authorization: "[Redacted]", accept: "application/json" } });
    expect(lines[4]).toMatchObject({ req: { method: "GET", headers: { authorization: "[Redacted]" } } });
    expect(lines[6]).toMatchObject({
      registry: "ghcr.io",
      credentials: { username: "alice", password: "[Redacted]" },
    });
  });
});
