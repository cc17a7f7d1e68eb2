#!/usr/bin/env node
// Entry point. wharf needs Node.js 22.18+ (TypeScript type stripping, node:sqlite); the project
// ships Node 24 as a dependency, so an older `node` on PATH hands over to that one.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  const bundled = join(root, "node_modules", "node", "bin", "node");
  if (!existsSync(bundled) || process.env.WHARF_REEXEC) {
    console.error(
      `wharf: Node.js 22.18 or newer is needed (this is ${process.version}); run \`npm install\` first`,
    );
    process.exit(1);
  }
  const r = spawnSync(bundled, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: "inherit",
    env: { ...process.env, WHARF_REEXEC: "1" },
  });
  process.exit(r.status ?? 1);
}
const { main } = await import("../gateway/cli/main.ts");
process.exitCode = await main(process.argv.slice(2));
