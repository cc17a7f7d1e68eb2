// What a person at a builder does with a registry that takes pushes (issue 14): `docker login`,
// a BuildKit build, `docker push`, a pull and run elsewhere, and `ctr` pulls with a hosts.toml
// (containerd's hosts doc: `server`, `[host."…"]`, `ca`). Each step is a real client in a
// namespace of the test's topology, with the private resolv.conf and /etc/hosts it was given.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Dockerd } from "./dockerd.ts";
import type { Topology } from "./netns.ts";
import type { RunResult } from "./run-command.ts";

/** `docker login HOST` with the password on stdin; the result (exit code, output) as it came. */
export function dockerLogin(d: Dockerd, host: string, user: string, password: string): Promise<RunResult> {
  return d.docker(["login", host, "--username", user, "--password-stdin"], {
    input: password,
    allowFailure: true,
    timeoutMs: 60_000,
  });
}

/**
 * A BuildKit build of `dockerfile` with `files` in its context, tagged `tag`. The CLI runs inside
 * the namespace: under BuildKit it fetches registry tokens itself (testbed.md §6).
 */
export async function buildkitBuild(
  d: Dockerd,
  tag: string,
  dockerfile: string,
  files: Record<string, string>,
): Promise<RunResult> {
  const ctx = join(d.dir, `ctx-${tag.replace(/[^a-z0-9]+/gi, "-")}`);
  await mkdir(ctx, { recursive: true });
  await writeFile(join(ctx, "Dockerfile"), dockerfile);
  for (const [name, text] of Object.entries(files)) await writeFile(join(ctx, name), text);
  return d.docker(["build", "--network", "none", "--progress", "plain", "-t", tag, ctx], {
    inNetns: true,
    env: { DOCKER_BUILDKIT: "1" },
    timeoutMs: 120_000,
  });
}

/** `docker push REF`; returns the manifest digest dockerd reports ("…: digest: sha256:… size: …"). */
export async function dockerPush(d: Dockerd, ref: string): Promise<string> {
  const r = await d.docker(["push", ref], { timeoutMs: 120_000 });
  const digest = /digest: (sha256:[0-9a-f]{64})/.exec(r.stdout)?.[1];
  if (!digest) throw new Error(`docker push ${ref}: no digest in\n${r.stdout}\n${r.stderr}`);
  return digest;
}

/** The repository digest dockerd recorded for `ref` (`RepoDigests`, "name@sha256:…"). */
export async function repoDigest(d: Dockerd, ref: string): Promise<string> {
  const r = await d.docker(["image", "inspect", "--format", "{{json .RepoDigests}}", ref]);
  const all = JSON.parse(r.stdout) as string[];
  const name = ref.replace(/:[^:/]+$/, "");
  const mine = all.find((x) => x.startsWith(`${name}@`));
  if (!mine) throw new Error(`${ref}: no repo digest for ${name} in ${r.stdout}`);
  return mine.slice(name.length + 1);
}

/** A containerd hosts dir for `host`: TLS to the host itself, trusting `caFile`. */
export async function writeHostsDir(dir: string, host: string, caFile: string): Promise<string> {
  await mkdir(join(dir, host), { recursive: true });
  const toml = [
    `server = "https://${host}"`,
    "",
    `[host."https://${host}"]`,
    '  capabilities = ["pull", "resolve"]',
    `  ca = ${JSON.stringify(caFile)}`,
    "",
  ].join("\n");
  await writeFile(join(dir, host, "hosts.toml"), toml);
  return dir;
}

/**
 * `ctr` against the containerd of builder `d` (its socket), run inside namespace `ns` with
 * `nameserver`: ctr, not containerd, resolves and downloads (testbed.md §5).
 */
export function ctrIn(
  topo: Topology,
  ns: string,
  d: Dockerd,
  nameserver: string,
  args: string[],
  allowFailure = false,
): Promise<RunResult> {
  const socket = join(d.dir, "ctd", "containerd.sock");
  return topo.run(ns, ["ctr", "-a", socket, ...args], {
    resolv: nameserver,
    allowFailure,
    timeoutMs: 120_000,
  });
}
