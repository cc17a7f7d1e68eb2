// The clients the benchmark drives, each in processes of its own so the bench process never
// competes with them: curl (blob downloads; piped to `openssl dgst` when the digest is checked),
// skopeo (whole-image pulls) and h2load (manifest request rates). Every one is told the
// contender's address (curl --resolve, a private /etc/hosts for skopeo and h2load): no name
// lookup leaves this machine.
import { join } from "node:path";
import { runCommand } from "../test/support/run-command.ts";
import { createSandbox } from "../test/support/sandbox.ts";
import type { Contender } from "./contenders.ts";

/** What docker and containerd send for manifests (OCI and Docker types, images and indexes). */
export const MANIFEST_ACCEPT = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");

export interface ClientEnv {
  /** The bench CA (PEM file) and a directory holding it as ca.crt (skopeo). */
  caFile: string;
  certDir: string;
  /** Scratch directory; skopeo writes its pulls to a tmpfs mounted there. */
  scratch: string;
}

export interface Download {
  status: number;
  bytes: number;
  /** sha256:<hex> of the body, when asked for. */
  digest?: string;
  seconds: number;
}

function curlArgs(c: Contender, env: ClientEnv, path: string, extra: string[] = []): string[] {
  return [
    "curl",
    "-sS",
    "--noproxy",
    "*",
    "--max-time",
    "900",
    "--resolve",
    `${c.host}:443:${c.ip}`,
    "--cacert",
    env.caFile,
    ...extra,
    `https://${c.host}${path}`,
  ];
}

/** GETs `path` from the contender, discarding the body (or hashing it with `digest`). */
export async function download(
  c: Contender,
  env: ClientEnv,
  path: string,
  opts: { digest?: boolean } = {},
): Promise<Download> {
  const started = performance.now();
  if (!opts.digest) {
    const r = await runCommand(
      curlArgs(c, env, path, ["-o", "/dev/null", "-w", "%{http_code} %{size_download}"]),
      {
        timeoutMs: 900_000,
      },
    );
    const [status, bytes] = r.stdout.trim().split(" ").map(Number);
    return { status: status ?? 0, bytes: bytes ?? 0, seconds: (performance.now() - started) / 1000 };
  }
  const curl = curlArgs(c, env, path, ["-o", "-", "-w", "%{stderr}%{http_code} %{size_download}"]);
  const r = await runCommand(
    ["bash", "-c", 'set -o pipefail; "$@" | openssl dgst -sha256 -r', "bash", ...curl],
    { timeoutMs: 900_000 },
  );
  const [status, bytes] = r.stderr.trim().split("\n").pop()?.split(" ").map(Number) ?? [];
  const hex = r.stdout.trim().split(" ")[0] ?? "";
  return {
    status: status ?? 0,
    bytes: bytes ?? 0,
    digest: `sha256:${hex}`,
    seconds: (performance.now() - started) / 1000,
  };
}

/** `n` concurrent downloads; `seconds` runs from the first start to the last completion. */
export async function downloadMany(
  c: Contender,
  env: ClientEnv,
  path: string,
  n: number,
  opts: { digest?: boolean } = {},
): Promise<{ seconds: number; results: Download[] }> {
  const started = performance.now();
  const results = await Promise.all(Array.from({ length: n }, () => download(c, env, path, opts)));
  return { seconds: (performance.now() - started) / 1000, results };
}

/** skopeo copy of `ref` into a tmpfs (no disk writes on the client side); returns seconds. */
export async function skopeoPull(c: Contender, env: ClientEnv, ref: string): Promise<number> {
  const out = join(env.scratch, `pull-${c.name}`);
  const sandbox = await createSandbox({
    hosts: { [c.host]: c.ip },
    tmpfs: ["/var/lib/containers/cache", out],
  });
  try {
    const argv = [
      "skopeo",
      "copy",
      "--src-cert-dir",
      env.certDir,
      `docker://${c.host}/${ref}`,
      `dir:${out}/img`,
    ];
    const started = performance.now();
    await runCommand(sandbox.wrap(argv), {
      env: { REGISTRY_AUTH_FILE: join(sandbox.dir, "auth.json") },
      timeoutMs: 900_000,
    });
    return (performance.now() - started) / 1000;
  } finally {
    await sandbox.dispose();
  }
}

export interface LoadResult {
  requestsPerSecond: number;
  succeeded: number;
  failed: number;
}

/**
 * h2load against one URL for `seconds` (after a 1 s warm-up) with `clients` connections of
 * `streams` concurrent streams each (HTTP/2), or with `h1` HTTP/1.1 keep-alive connections with
 * `streams` pipelined requests each. HEAD is sent by overriding the :method pseudo-header.
 */
export async function h2load(
  c: Contender,
  path: string,
  opts: { method: "GET" | "HEAD"; seconds: number; clients: number; streams: number; h1?: boolean },
): Promise<LoadResult> {
  const sandbox = await createSandbox({ hosts: { [c.host]: c.ip } });
  try {
    const argv = [
      "h2load",
      "-c",
      String(opts.clients),
      "-m",
      String(opts.streams),
      "-D",
      String(opts.seconds),
    ]
      .concat(["--warm-up-time=1", "-H", `accept: ${MANIFEST_ACCEPT}`])
      .concat(opts.h1 ? ["--h1"] : [])
      .concat(opts.method === "HEAD" ? ["-H", ":method: HEAD"] : [])
      .concat([`https://${c.host}${path}`]);
    const r = await runCommand(sandbox.wrap(argv), { timeoutMs: (opts.seconds + 30) * 1000 });
    const rate = /finished in [\d.]+\w*, ([\d.]+) req\/s/.exec(r.stdout);
    const reqs = /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed/.exec(r.stdout);
    const codes = /status codes: \d+ 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(r.stdout);
    if (!rate || !reqs || !codes) throw new Error(`h2load output not understood:\n${r.stdout}`);
    const succeeded = Number(reqs[1]);
    // "failed" counts resets and errors; answers other than 2xx count as failures too
    const failed = Number(reqs[2]) + Number(codes[1]) + Number(codes[2]) + Number(codes[3]);
    return { requestsPerSecond: Number(rate[1]), succeeded, failed };
  } finally {
    await sandbox.dispose();
  }
}

/**
 * ApacheBench with keep-alive against one URL for `seconds` with `connections` connections (no
 * pipelining), after a 1 s warm-up run. ab speaks HTTP/1.0 with `Connection: keep-alive`, which
 * Node and nginx serve on the same HTTP/1.x code paths as HTTP/1.1; h2load and wrk cannot send
 * HEAD over HTTP/1.x (they wait for the body that Content-Length announces).
 */
export async function abLoad(
  c: Contender,
  path: string,
  opts: { method: "GET" | "HEAD"; seconds: number; connections: number },
): Promise<LoadResult> {
  const sandbox = await createSandbox({ hosts: { [c.host]: c.ip } });
  try {
    const run = (seconds: number) =>
      runCommand(
        sandbox.wrap([
          "ab",
          "-k",
          ...(opts.method === "HEAD" ? ["-i"] : []),
          "-c",
          String(opts.connections),
          "-t",
          String(seconds),
          "-n",
          "1000000",
          "-H",
          `accept: ${MANIFEST_ACCEPT}`,
          `https://${c.host}${path}`,
        ]),
        { timeoutMs: (seconds + 30) * 1000, allowFailure: true },
      );
    await run(1);
    const r = await run(opts.seconds);
    const rate = /Requests per second:\s+([\d.]+)/.exec(r.stdout);
    const done = /Complete requests:\s+(\d+)/.exec(r.stdout);
    if (!rate || !done) throw new Error(`ab output not understood:\n${r.stdout}\n${r.stderr}`);
    const failed =
      Number(/Failed requests:\s+(\d+)/.exec(r.stdout)?.[1] ?? 0) +
      Number(/Non-2xx responses:\s+(\d+)/.exec(r.stdout)?.[1] ?? 0);
    return { requestsPerSecond: Number(rate[1]), succeeded: Number(done[1]) - failed, failed };
  } finally {
    await sandbox.dispose();
  }
}
