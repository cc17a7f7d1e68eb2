// Requests seen by a server, for assertions ("the upstream saw 1 GET of this blob").
// docker-registry writes an Apache combined access log on stdout, one line per request
// (testbed.md §3): `IP - USER [DATE] "METHOD PATH PROTO" STATUS BYTES "REFERER" "UA"`.
import { readFileSync } from "node:fs";

export interface LoggedRequest {
  method: string;
  /** The request target as sent, query included (e.g. `/v2/x/blobs/uploads/…?_state=…`). */
  path: string;
  status: number;
  ua: string;
}

/** Field values to match (a string path matches with or without its query), or a predicate. */
export type RequestFilter<T extends LoggedRequest = LoggedRequest> =
  | { method?: string; path?: string | RegExp; status?: number; ua?: string | RegExp }
  | ((r: T) => boolean);

/** The harness's own readiness probes carry this user agent and are left out of counts. */
export const PROBE_UA = "wharf-harness-probe";

const COMBINED =
  /^\S+ \S+ .*?\[[^\]]*\] "(\S+) (\S+)[^"]*" (\d{3}) \S+ "(?:[^"\\]|\\.)*" "((?:[^"\\]|\\.)*)"/;

export function parseCombinedLine(line: string): LoggedRequest | undefined {
  const m = COMBINED.exec(line);
  if (!m) return undefined;
  return {
    method: m[1] as string,
    path: m[2] as string,
    status: Number(m[3]),
    ua: (m[4] as string).replace(/\\(.)/g, "$1"),
  };
}

function textMatches(value: string, want: string | RegExp): boolean {
  return typeof want === "string" ? value === want : want.test(value);
}

export function matchesFilter<T extends LoggedRequest>(r: T, filter?: RequestFilter<T>): boolean {
  if (!filter) return true;
  if (typeof filter === "function") return filter(r);
  if (filter.method !== undefined && r.method !== filter.method) return false;
  if (filter.status !== undefined && r.status !== filter.status) return false;
  if (filter.ua !== undefined && !textMatches(r.ua, filter.ua)) return false;
  if (filter.path !== undefined) {
    const bare = r.path.split("?")[0] as string;
    if (!textMatches(r.path, filter.path) && !textMatches(bare, filter.path)) return false;
  }
  return true;
}

/** Polls `count()` until it reaches `n` (log lines can land just after the client got its answer). */
export async function waitForCount(count: () => number, n: number, timeoutMs = 5000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const c = count();
    if (c >= n || Date.now() > deadline) return c;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** An access log file that keeps growing; positions are request numbers (probes excluded). */
export class AccessLog {
  readonly file: string;
  #frozen: string | undefined;
  constructor(file: string) {
    this.file = file;
  }

  /** Keeps the current content in memory, so counts still work after the file is deleted. */
  freeze(): void {
    this.#frozen = this.#read();
  }

  #read(): string {
    try {
      return readFileSync(this.file, "utf8");
    } catch {
      return "";
    }
  }

  all(): LoggedRequest[] {
    const text = this.#frozen ?? this.#read();
    const out: LoggedRequest[] = [];
    for (const line of text.split("\n")) {
      const r = parseCombinedLine(line);
      if (r && r.ua !== PROBE_UA) out.push(r);
    }
    return out;
  }

  mark(): number {
    return this.all().length;
  }

  requests(since = 0): LoggedRequest[] {
    return this.all().slice(since);
  }

  count(filter?: RequestFilter, since = 0): number {
    return this.requests(since).filter((r) => matchesFilter(r, filter)).length;
  }
}
