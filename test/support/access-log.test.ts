import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { AccessLog, matchesFilter, PROBE_UA, parseCombinedLine } from "./access-log.ts";
import { parseScope } from "./token-server.ts";

// Lines as docker-registry 2.8 writes them (gorilla/handlers combined format).
const LINES = [
  `127.0.0.1 - - [23/Nov/2026:14:48:13 +0000] "GET /v2/ HTTP/1.1" 401 87 "" "${PROBE_UA}"`,
  '127.0.0.1 - - [23/Nov/2026:14:48:13 +0000] "HEAD /v2/a/b/manifests/1 HTTP/2.0" 200 0 "" "skopeo/1.9.3"',
  '10.0.0.2 - alice [23/Nov/2026:14:48:14 +0000] "PATCH /v2/a/b/blobs/uploads/u1?_state=xyz HTTP/1.1" 202 0 "" "docker/20.10 \\"quoted\\""',
];

describe("access log", () => {
  let dir = "";
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("parses combined lines, keeps the query, unescapes the user agent", () => {
    expect(parseCombinedLine(LINES[1] as string)).toEqual({
      method: "HEAD",
      path: "/v2/a/b/manifests/1",
      status: 200,
      ua: "skopeo/1.9.3",
    });
    const patch = parseCombinedLine(LINES[2] as string);
    expect(patch?.path).toBe("/v2/a/b/blobs/uploads/u1?_state=xyz");
    expect(patch?.ua).toBe('docker/20.10 "quoted"');
    expect(parseCombinedLine('time="…" level=info msg="response completed"')).toBeUndefined();
  });

  test("filters by fields (a string path matches without the query) or a predicate", () => {
    const r = parseCombinedLine(LINES[2] as string);
    if (!r) throw new Error("unparsed");
    expect(matchesFilter(r, { method: "PATCH", path: "/v2/a/b/blobs/uploads/u1" })).toBe(true);
    expect(matchesFilter(r, { path: /_state=xyz$/ })).toBe(true);
    expect(matchesFilter(r, { method: "GET" })).toBe(false);
    expect(matchesFilter(r, (x) => x.status === 202)).toBe(true);
  });

  test("counts from a mark and leaves the harness's probes out", async () => {
    dir = await mkdtemp(join(tmpdir(), "wharf-access-log-"));
    const file = join(dir, "access.log");
    await writeFile(file, `${LINES.join("\n")}\n`);
    const log = new AccessLog(file);
    expect(log.mark()).toBe(2);
    expect(log.count({ ua: /^skopeo/ })).toBe(1);
    expect(log.requests(1).map((x) => x.method)).toEqual(["PATCH"]);
  });

  test("token scopes: type, name (may hold colons), actions", () => {
    expect(parseScope("repository:library/busybox:pull,push")).toEqual({
      type: "repository",
      name: "library/busybox",
      actions: ["pull", "push"],
    });
    expect(parseScope("repository:host:5000/x:pull")?.name).toBe("host:5000/x");
    expect(parseScope("registry:catalog")).toBeUndefined();
  });
});
