// Confines a command: optionally inside a network namespace, always in a private mount namespace
// with its own /etc/hosts and /etc/resolv.conf, so no name lookup reaches the machine's resolver
// (testbed.md §4). nsenter, unshare (no --fork) and `sh -c 'exec …'` all exec in place, so the
// PID a caller sees is the command's own PID.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { makeTempDir } from "./temp-dir.ts";

export interface SandboxOptions {
  /** Network namespace name (as in /run/netns); default: stay in the current one. */
  netns?: string;
  /** Extra /etc/hosts entries: host name -> IP address. */
  hosts?: Record<string, string>;
  /** A complete hosts file to use instead (hosts is then ignored). */
  hostsFile?: string;
  /** The only resolver in resolv.conf; default 127.0.0.1 (nothing leaves the machine). */
  nameserver?: string;
  /** Directories covered by an empty tmpfs (created if missing). */
  tmpfs?: string[];
  /** Extra bind mounts, [source, target]. */
  binds?: Array<[string, string]>;
}

export interface Sandbox {
  /** Holds the private hosts and resolv.conf; delete it (dispose) only after the command ended. */
  readonly dir: string;
  wrap(argv: string[]): string[];
  dispose(): Promise<void>;
}

/** Single-quotes a word for sh. */
export function shQuote(word: string): string {
  return `'${word.replaceAll("'", "'\\''")}'`;
}

export function hostsFileText(hosts: Record<string, string> = {}): string {
  const lines = ["127.0.0.1 localhost", "::1 localhost ip6-localhost ip6-loopback"];
  for (const [name, ip] of Object.entries(hosts)) lines.push(`${ip} ${name}`);
  return `${lines.join("\n")}\n`;
}

export function netnsPath(name: string): string {
  return `/run/netns/${name}`;
}

export async function createSandbox(opts: SandboxOptions = {}): Promise<Sandbox> {
  const temp = await makeTempDir("wharf-sandbox-");
  const dir = temp.path;
  const hosts = opts.hostsFile ?? join(dir, "hosts");
  const resolv = join(dir, "resolv.conf");
  if (!opts.hostsFile) await writeFile(hosts, hostsFileText(opts.hosts));
  await writeFile(resolv, `nameserver ${opts.nameserver ?? "127.0.0.1"}\noptions timeout:1 attempts:2\n`);
  const steps = [
    `mount --bind ${shQuote(hosts)} /etc/hosts`,
    `mount --bind ${shQuote(resolv)} /etc/resolv.conf`,
    ...(opts.tmpfs ?? []).map((d) => `mkdir -p ${shQuote(d)} && mount -t tmpfs tmpfs ${shQuote(d)}`),
    ...(opts.binds ?? []).map(([s, t]) => `mount --bind ${shQuote(s)} ${shQuote(t)}`),
  ];
  const script = `set -e; ${steps.join("; ")}; exec "$@"`;
  const enter = opts.netns ? ["nsenter", `--net=${netnsPath(opts.netns)}`] : [];
  return {
    dir,
    wrap: (argv) => [
      ...enter,
      "unshare",
      "--mount",
      "--propagation",
      "private",
      "sh",
      "-c",
      script,
      "sh",
      ...argv,
    ],
    dispose: temp.remove,
  };
}
