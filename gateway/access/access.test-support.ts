// Shared by the access tests: a logger that writes through the real createLogger (with its
// redaction) to a file the test reads back, and htpasswd files made by Debian's htpasswd(1).
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { runCommand } from "../../test/support/run-command.ts";
import { findBinary } from "../../test/support/system-packages.ts";
import { createLogger, type Logger } from "../log.ts";

export interface CapturedLog {
  log: Logger;
  /** Everything written so far (flushed first), as text. */
  text(): Promise<string>;
  /** The parsed lines. */
  lines(): Promise<Record<string, unknown>[]>;
}

export function captureLog(dir: string, name = "wharf.log"): CapturedLog {
  const file = join(dir, name);
  const log = createLogger({ level: "debug", pretty: false, destination: file });
  const text = async (): Promise<string> => {
    await new Promise<void>((resolve) => log.flush(() => resolve()));
    return readFile(file, "utf8").catch(() => "");
  };
  return {
    log,
    text,
    lines: async () =>
      (await text())
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/** Runs Debian's htpasswd (apache2-utils; global-setup installs it): `htpasswd ARGS…`. */
export async function htpasswd(...args: string[]): Promise<string> {
  const bin = findBinary("htpasswd");
  if (!bin) throw new Error("htpasswd (apache2-utils) is missing: the test setup installs it");
  return (await runCommand([bin, ...args])).stdout;
}
