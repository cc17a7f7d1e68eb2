// The packages of optional parts (S3, PostgreSQL, the DNS responder, access control) stay out of a
// process that does not use them: importing the CLI and the server loads none of them. Each added
// 10-30 MiB of resident memory to every wharf (issue 19, bench figure 5b).
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const OPTIONAL = [
  "@aws-sdk/",
  "@smithy/",
  "/node_modules/pg/",
  "/node_modules/dns2/",
  "/node_modules/jose/",
  "/node_modules/bcryptjs/",
];

// records every module URL the child loads (synchronous module hooks, Node 22.15+)
const HOOK = `import { registerHooks } from "node:module";
globalThis.loadedUrls = [];
registerHooks({ load(url, ctx, next) { globalThis.loadedUrls.push(url); return next(url, ctx); } });`;

describe("optional modules", () => {
  it("importing the CLI and the server loads no S3, pg, dns2, jose or bcryptjs module", () => {
    const script = `await import("./gateway/cli/main.ts"); await import("./gateway/server/start-wharf.ts");
console.log(JSON.stringify(globalThis.loadedUrls));`;
    const r = spawnSync(
      process.execPath,
      ["--import", `data:text/javascript,${encodeURIComponent(HOOK)}`, "--input-type=module", "-e", script],
      { cwd: ROOT, encoding: "utf8" },
    );
    expect(r.stderr).not.toMatch(/Error/);
    const urls = JSON.parse(r.stdout) as string[];
    expect(urls.some((u) => u.endsWith("/gateway/server/start-wharf.ts"))).toBe(true);
    expect(urls.filter((u) => OPTIONAL.some((p) => u.includes(p)))).toEqual([]);
  });
});
