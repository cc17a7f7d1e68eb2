// The logger on a TTY: pretty output when pino-pretty resolves, JSON lines plus one notice when it
// does not (the container image installs no dev dependencies; issue 13 item 5).
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { makeTempDir, type TempDir } from "../test/support/temp-dir.ts";
import { createLogger, resolvePinoPretty } from "./log.ts";

let tmp: TempDir | undefined;
afterEach(async () => {
  await tmp?.remove();
  tmp = undefined;
});

async function logTo(resolvePretty: () => string | undefined): Promise<string> {
  tmp = await makeTempDir("wharf-log-");
  const file = join(tmp.path, "out.log");
  const log = createLogger({ level: "info", pretty: true, destination: file, resolvePretty });
  log.info({ registry: "docker.io", password: "hunter2" }, "hello");
  await new Promise<void>((resolve) => log.flush(() => resolve()));
  // A pretty transport writes from a worker thread: wait for the line to land.
  for (let i = 0; i < 50; i++) {
    const text = await readFile(file, "utf8").catch(() => "");
    if (text.includes("hello")) return text;
    await new Promise((r) => setTimeout(r, 100));
  }
  return readFile(file, "utf8");
}

describe("createLogger on a TTY", () => {
  it("falls back to JSON lines with one notice when pino-pretty cannot be resolved", async () => {
    const text = await logTo(() => undefined);
    const lines = text
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.filter((l) => String(l.msg).includes("pino-pretty is not installed"))).toHaveLength(1);
    const hello = lines.find((l) => l.msg === "hello");
    expect(hello?.registry).toBe("docker.io");
    expect(hello?.password).toBe("[Redacted]");
  });

  it("pretty-prints through pino-pretty when it resolves", async () => {
    const target = resolvePinoPretty();
    expect(target).toBeDefined(); // a dev dependency: present wherever tests run
    const text = await logTo(() => target);
    expect(text).toContain("hello");
    expect(text).not.toContain("pino-pretty is not installed");
    expect(() => JSON.parse(text.trim().split("\n")[0] as string)).toThrow();
    expect(text).not.toContain("hunter2");
  });
});
