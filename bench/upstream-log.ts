// What the upstream served, from its access log (Apache combined format, one line per finished
// request: `IP - - [date] "GET /v2/... HTTP/2.0" 200 268435456 "" "UA"`, testbed.md §3). Positions
// are raw line numbers, so a mark taken before a figure isolates what that figure caused.
import { readFileSync } from "node:fs";

export interface ServedRequest {
  method: string;
  path: string;
  status: number;
  bytes: number;
}

const LINE = /"(\S+) (\S+) [^"]*" (\d{3}) (\d+|-)/;

export class UpstreamLog {
  readonly file: string;

  constructor(file: string) {
    this.file = file;
  }

  #lines(): string[] {
    let text = "";
    try {
      text = readFileSync(this.file, "utf8");
    } catch {}
    const lines = text.split("\n");
    if (lines.at(-1) === "") lines.pop(); // a line still being written has no newline yet
    return lines;
  }

  mark(): number {
    return this.#lines().length;
  }

  since(mark: number): ServedRequest[] {
    const out: ServedRequest[] = [];
    for (const line of this.#lines().slice(mark)) {
      const m = LINE.exec(line);
      if (!m) continue;
      out.push({
        method: m[1] as string,
        path: (m[2] as string).split("?")[0] as string,
        status: Number(m[3]),
        bytes: m[4] === "-" ? 0 : Number(m[4]),
      });
    }
    return out;
  }

  /** Body bytes the upstream sent for GETs of blob `digest` since `mark`. */
  blobBytes(digest: string, mark: number): number {
    return this.since(mark)
      .filter((r) => r.method === "GET" && r.path.endsWith(`/blobs/${digest}`))
      .reduce((sum, r) => sum + r.bytes, 0);
  }

  /** Manifest requests of `repository` since `mark`, by method. */
  manifestRequests(repository: string, mark: number): { get: number; head: number } {
    const mine = this.since(mark).filter((r) => r.path.startsWith(`/v2/${repository}/manifests/`));
    return {
      get: mine.filter((r) => r.method === "GET").length,
      head: mine.filter((r) => r.method === "HEAD").length,
    };
  }

  /** Waits until no new line arrived for `quietMs` (at most `timeoutMs`): fills still running log later. */
  async settle(quietMs = 300, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = this.mark();
    let quietSince = Date.now();
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      const now = this.mark();
      if (now !== last) {
        last = now;
        quietSince = Date.now();
      } else if (Date.now() - quietSince >= quietMs) return;
    }
  }
}
