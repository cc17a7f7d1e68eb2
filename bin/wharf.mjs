#!/usr/bin/env node
// Entry point. wharf needs Node.js 22.18+ (TypeScript type stripping, node:sqlite); the project
// ships Node 24 as a dependency, so an older `node` on PATH hands over to that one.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import module from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);

// The server runs with a 1 MiB young generation (V8's default grows it to 16 MiB per semi-space
// under load). Serving streams allocates many short-lived objects; with the default, 8 concurrent
// pulls added about 70 MiB of RSS, with 1 MiB about 10, at the same throughput (bench/results.md).
// The old generation is capped at 160 MiB: without a cap V8 lets it grow with the request rate
// (a tagTtl 0 storm at 7,000 requests/s reached 250-300 MiB of RSS, nearly all of it garbage not
// yet collected); with the cap it stays near 165 MiB at the same rate. What wharf keeps live is
// bounded well below that (the manifest memo, and maps of at most 100,000 entries). Buffers of
// blob data live outside this heap. NODE_OPTIONS or node's own flags win for either setting.
// --optimize-for-size, --single-threaded-gc and --liftoff-only (undici's parser is WebAssembly) did
// not lower the peak of 8 warm pulls or of the 32-client fill (figures 5, 4c); the first raised it.
const SERVE_FLAGS = ["--max-semi-space-size=1", "--max-old-space-size=160"];
const given = [...process.execArgv, process.env.NODE_OPTIONS ?? ""];
const nodeFlags =
  args[0] === "serve"
    ? SERVE_FLAGS.filter((flag) => !given.some((a) => a.includes(flag.slice(0, flag.indexOf("=")))))
    : [];
// glibc's malloc, for serve: most of what a busy wharf holds beyond the JavaScript heap is native
// memory (TLS, HTTP/2 sessions, file and socket buffers) that glibc keeps once freed. By default it
// raises its mmap threshold after a large block is freed, so later 128 KiB-1 MiB buffers come from
// the heap and stay resident, and every thread (libuv's pool, V8's helpers) may get an arena of
// its own. A fixed 128 KiB threshold gives large blocks back to the kernel when freed; two arenas
// are enough for one JavaScript thread. In the bench (bench/results.md) peak RSS fell by 10-25
// MiB under the revalidation storm, 8 warm pulls and the 32-client fill, at the same request rate
// and CPU per request. A 16 KiB threshold (TLS record buffers come in 16 KiB blocks) saved only 2-5
// MiB more at the peak of 8 warm pulls and cost 30-40 % more CPU per GiB sent; one arena made no
// difference. GLIBC_TUNABLES from the environment wins; other C libraries ignore it.
const SERVE_TUNABLES = "glibc.malloc.mmap_threshold=131072:glibc.malloc.arena_max=2";
const serveEnv =
  args[0] === "serve" && process.env.GLIBC_TUNABLES === undefined
    ? { ...process.env, GLIBC_TUNABLES: SERVE_TUNABLES }
    : undefined;

const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  const bundled = join(root, "node_modules", "node", "bin", "node");
  if (!existsSync(bundled) || process.env.WHARF_REEXEC) {
    console.error(
      `wharf: Node.js 22.18 or newer is needed (this is ${process.version}); run \`npm install\` first`,
    );
    process.exit(1);
  }
  // Node before 23.11 has no process.execve, so the bundled Node cannot replace this process: it
  // runs as a child, and this launcher stays a faithful stand-in for supervisors (one more PID):
  // every signal a supervisor sends is passed on, and the launcher ends the way the child ended,
  // with its exit code, or killed by the same signal.
  const child = spawn(bundled, [...nodeFlags, fileURLToPath(import.meta.url), ...args], {
    stdio: "inherit",
    env: { ...(serveEnv ?? process.env), WHARF_REEXEC: "1" },
    // A process group of its own: a terminal's Ctrl-C reaches the child once, through the launcher,
    // not twice (a second SIGINT would cut wharf's graceful shutdown short).
    detached: true,
  });
  const forwarded = ["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR2"];
  for (const s of forwarded) process.on(s, () => child.kill(s));
  child.on("error", (e) => {
    console.error(`wharf: cannot start ${bundled}: ${e.message}`);
    process.exit(1);
  });
  child.on("exit", (code, signal) => {
    if (signal) {
      for (const s of forwarded) process.removeAllListeners(s);
      process.kill(process.pid, signal);
      return;
    }
    process.exit(code ?? 1);
  });
  await new Promise(() => {}); // the exit handler ends this process
}
if ((nodeFlags.length > 0 || serveEnv) && typeof process.execve === "function") {
  // Same process (same PID for supervisors), new V8 heap and malloc configuration. Should the exec
  // fail (a sandbox that forbids it), wharf runs on with the defaults: more memory, same behaviour.
  try {
    process.execve(
      process.execPath,
      [process.execPath, ...nodeFlags, ...process.execArgv, ...process.argv.slice(1)],
      serveEnv ?? process.env,
    );
  } catch {}
}
// Caches compiled (and type-stripped) modules across starts: from the second start on, the
// TypeScript stripper is never loaded (about 17 MiB less resident memory). Keyed by file content,
// kept in os.tmpdir() (or NODE_COMPILE_CACHE); a cache that cannot be written is skipped silently.
module.enableCompileCache?.();
const { main } = await import("../gateway/cli/main.ts");
process.exitCode = await main(args);
