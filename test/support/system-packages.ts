// The Debian packages the end-to-end tests drive (testbed.md §1). Missing ones are installed
// with apt-get; if that fails the run stops with a loud error: a test never skips silently.
import { accessSync, constants } from "node:fs";
import { join } from "node:path";
import { runCommand } from "./run-command.ts";

/** Binary -> the Debian package that provides it. */
export const REQUIRED_BINARIES: Readonly<Record<string, string>> = {
  "docker-registry": "docker-registry",
  skopeo: "skopeo",
  containerd: "containerd",
  ctr: "containerd",
  dockerd: "docker.io",
  dig: "dnsutils",
  dnsmasq: "dnsmasq-base",
  htpasswd: "apache2-utils",
  openssl: "openssl",
  busybox: "busybox-static",
  nginx: "nginx-light",
  h2load: "nghttp2-client",
  ab: "apache2-utils",
  umoci: "umoci",
  ip: "iproute2",
  unshare: "util-linux",
  nsenter: "util-linux",
  setpriv: "util-linux",
  curl: "curl",
  "docker-compose": "docker-compose",
  chromium: "chromium",
  mmdebstrap: "mmdebstrap",
  script: "bsdutils",
};

/** Install these together, so that apt resolves them in one transaction. */
export const PACKAGES = [
  "docker-registry",
  "skopeo",
  "containerd",
  "docker.io",
  "dnsutils",
  "iproute2",
  "umoci",
  "openssl",
  "busybox-static",
  "dnsmasq-base",
  "apache2-utils",
  "nginx-light",
  "nghttp2-client",
  "curl",
  "docker-compose",
  "chromium",
  "mmdebstrap",
];

const SYSTEM_DIRS = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/** Full path of an executable on PATH or in the usual system directories, or undefined. */
export function findBinary(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(":").filter(Boolean), ...SYSTEM_DIRS];
  for (const dir of dirs) {
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {}
  }
  return undefined;
}

export function missingBinaries(): string[] {
  return Object.keys(REQUIRED_BINARIES).filter((b) => !findBinary(b));
}

/** Installs what is missing (apt-get update, then one apt-get install -y); throws if anything still is. */
export async function ensureSystemPackages(log: (line: string) => void = console.log): Promise<void> {
  const missing = missingBinaries();
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map((b) => REQUIRED_BINARIES[b] as string))];
  log(`e2e: installing ${packages.join(" ")} (missing: ${missing.join(" ")})`);
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  try {
    await runCommand(["apt-get", "update"], { env, timeoutMs: 300_000 });
    await runCommand(["apt-get", "install", "-y", ...new Set([...PACKAGES, ...packages])], {
      env,
      timeoutMs: 900_000,
    });
  } catch (e) {
    throw new Error(
      `end-to-end tests need ${missing.join(", ")}; installing ${packages.join(" ")} with apt-get failed ` +
        `(run the tests as root on Debian 12, or install them by hand):\n${(e as Error).message}`,
    );
  }
  const still = missingBinaries();
  if (still.length > 0) throw new Error(`still missing after apt-get install: ${still.join(", ")}`);
}
