// skopeo, confined: private /etc/hosts (names -> test addresses) and /etc/resolv.conf (default
// 127.0.0.1, so a name missing from hosts never reaches the machine's resolver), and a tmpfs
// over its blob-info cache so it never tries cross-repo mounts learnt in earlier runs, which
// keeps request counts repeatable (testbed.md §4).
import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { imageLayout } from "./images.ts";
import { type RunResult, runCommand } from "./run-command.ts";
import { createSandbox } from "./sandbox.ts";

export interface SkopeoOptions {
  /** Host name -> IP in skopeo's /etc/hosts. */
  hosts?: Record<string, string>;
  /** Its only resolver; default 127.0.0.1. */
  nameserver?: string;
  /** Run inside this network namespace. */
  netns?: string;
  env?: NodeJS.ProcessEnv;
  /** Default 120 s. */
  timeoutMs?: number;
  /** Resolve with a failed result instead of throwing. */
  allowFailure?: boolean;
}

export interface RegistryAccess {
  /** A directory with the CA as ca.crt (TestCa.certDir); added to the system roots. */
  certDir: string;
  /** "user:password". */
  creds?: string;
  hosts?: Record<string, string>;
  nameserver?: string;
  netns?: string;
}

/** Runs `skopeo ARGS…`; throws (with stderr) when it fails. */
export async function runSkopeo(args: string[], opts: SkopeoOptions = {}): Promise<RunResult> {
  const sandbox = await createSandbox({
    hosts: opts.hosts,
    nameserver: opts.nameserver,
    netns: opts.netns,
    tmpfs: ["/var/lib/containers/cache"],
  });
  try {
    // a private auth file: no credentials from an earlier `skopeo login` on this machine
    const env = { REGISTRY_AUTH_FILE: join(sandbox.dir, "auth.json"), ...opts.env };
    return await runCommand(sandbox.wrap(["skopeo", ...args]), {
      env,
      timeoutMs: opts.timeoutMs ?? 120_000,
      allowFailure: opts.allowFailure,
    });
  } finally {
    await sandbox.dispose();
  }
}

function access(o: RegistryAccess): SkopeoOptions {
  return { hosts: o.hosts, nameserver: o.nameserver, netns: o.netns };
}

/** Pushes a tag of the test layout with every platform and the layout's digests. */
export async function pushLayout(tag: string, destRef: string, o: RegistryAccess): Promise<void> {
  const args = ["copy", "--all", "--preserve-digests", "--dest-cert-dir", o.certDir];
  if (o.creds) args.push("--dest-creds", o.creds);
  await runSkopeo([...args, `oci:${imageLayout()}:${tag}`, `docker://${destRef}`], access(o));
}

/** The raw top-level manifest (an index for multi-platform images) as served by the registry. */
export async function inspectRaw(ref: string, o: RegistryAccess): Promise<string> {
  const args = ["inspect", "--raw", "--cert-dir", o.certDir];
  if (o.creds) args.push("--creds", o.creds);
  return (await runSkopeo([...args, `docker://${ref}`], access(o))).stdout;
}

/** Digest of the top-level manifest of `ref` (sha256 of the bytes served). */
export async function inspectDigest(ref: string, o: RegistryAccess): Promise<string> {
  const raw = await inspectRaw(ref, o);
  return `sha256:${createHash("sha256").update(raw).digest("hex")}`;
}

/** Pulls `ref` into a `dir:` layout at outDir (one platform, or every platform with all). */
export async function copyToDir(
  ref: string,
  outDir: string,
  o: RegistryAccess & { all?: boolean; arch?: string },
): Promise<void> {
  const args = ["copy", "--src-cert-dir", o.certDir];
  if (o.all) args.push("--all");
  if (o.arch) args.push("--override-arch", o.arch);
  if (o.creds) args.push("--src-creds", o.creds);
  await runSkopeo([...args, `docker://${ref}`, `dir:${outDir}`], access(o));
}

/**
 * The blob digests in a `dir:` layout skopeo wrote (files named by their hex), sorted; each file's
 * bytes are hashed, and one whose bytes are not its name's digest fails the test.
 */
export async function verifiedBlobDigests(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const f of await readdir(dir)) {
    if (!/^[a-f0-9]{64}$/.test(f)) continue;
    const hex = createHash("sha256")
      .update(await readFile(join(dir, f)))
      .digest("hex");
    if (hex !== f) throw new Error(`skopeo's ${f} in ${dir} holds bytes of sha256:${hex}`);
    out.push(`sha256:${f}`);
  }
  return out.sort();
}
