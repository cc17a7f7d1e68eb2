// Readiness probes: poll a URL until it answers with an accepted status, failing early when the
// server's process has died (a second server on a busy address exits at once, testbed.md §3).
// Probes carry PROBE_UA so request counts can leave them out. TLS is not verified here: this only
// asks "is it listening"; tests verify TLS with their own clients.
import { Agent, request } from "undici";
import { PROBE_UA } from "./access-log.ts";
import { runCommand } from "./run-command.ts";
import { netnsPath } from "./sandbox.ts";

export interface WaitOptions {
  accept: (status: number) => boolean;
  /** Returns false once the server process has exited: the wait then fails at once. */
  alive?: () => boolean;
  /** Default 15 s. */
  timeoutMs?: number;
  /** Probe from inside this network namespace (with curl). */
  netns?: string;
  /** Text appended to the error, such as a log tail. */
  describe?: () => string;
}

const insecure = new Agent({ connect: { rejectUnauthorized: false }, connectTimeout: 1000 });

async function probe(url: string, netns: string | undefined): Promise<number | undefined> {
  try {
    if (netns) {
      const curl = [
        "curl",
        "-sk",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-A",
        PROBE_UA,
        "--max-time",
        "2",
        url,
      ];
      const r = await runCommand(["nsenter", `--net=${netnsPath(netns)}`, ...curl], { allowFailure: true });
      const status = Number(r.stdout.trim());
      return status > 0 ? status : undefined;
    }
    const res = await request(url, {
      dispatcher: insecure,
      headers: { "user-agent": PROBE_UA },
      headersTimeout: 2000,
      bodyTimeout: 2000,
    });
    await res.body.dump();
    return res.statusCode;
  } catch {
    return undefined;
  }
}

/** Resolves with the accepted status; throws on timeout or when the server died. */
export async function waitForHttp(url: string, opts: WaitOptions): Promise<number> {
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  let last: number | undefined;
  for (;;) {
    if (opts.alive && !opts.alive()) {
      throw new Error(`server for ${url} exited before it was ready\n${opts.describe?.() ?? ""}`);
    }
    last = await probe(url, opts.netns);
    if (last !== undefined && opts.accept(last)) {
      if (!opts.alive) return last;
      // it answered, but was it us? A second server on a busy address exits right after its bind fails
      await new Promise((r) => setTimeout(r, 100));
      if (opts.alive()) return last;
      continue;
    }
    if (Date.now() > deadline) {
      throw new Error(`${url} not ready (last status ${last ?? "none"})\n${opts.describe?.() ?? ""}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
