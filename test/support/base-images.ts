// Base images made on this machine, since no container registry is reachable from it
// (notes: images-offline.md): Debian root file systems from the configured Debian sources with
// mmdebstrap, one with Node 24 (the project's own `node` package) and npm plus an npm cache that
// holds the production dependencies (so `docker build --network none` of the Dockerfile works),
// and one standing in for docker:dind (Debian's docker.io and an entrypoint like the official one).
// The root file system tarballs are cached outside the repository, named after the hash of what
// went into them; each test's dockerd imports them (`docker import`), a few seconds each.
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, realpathSync } from "node:fs";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { runCommand } from "./run-command.ts";
import { shQuote } from "./sandbox.ts";
import { findBinary } from "./system-packages.ts";
import { makeTempDir } from "./temp-dir.ts";
import { REPO_ROOT } from "./wharf-process.ts";

const HERE = fileURLToPath(new URL("./images-offline/", import.meta.url));
const ENTRYPOINT = join(HERE, "dockerd-entrypoint.sh");
const DIND_DAEMON_JSON = join(HERE, "dind-daemon.json");
const SELF = fileURLToPath(import.meta.url);
const PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export interface BaseImage {
  /** Root file system tarball (cached). */
  tar: string;
  /** `docker import --change` instructions. */
  changes: string[];
}

export interface BaseImages {
  /** Debian + Node 24 + npm + an offline npm cache with the production dependencies. */
  node: BaseImage;
  /** Debian + docker.io + the dockerd-entrypoint.sh stand-in. */
  dind: BaseImage;
}

/** Where the tarballs live: WHARF_TEST_IMAGE_CACHE, /var/cache/wharf-test when root, else os.tmpdir(). */
export function imageCacheDir(): string {
  if (process.env.WHARF_TEST_IMAGE_CACHE) return process.env.WHARF_TEST_IMAGE_CACHE;
  return process.getuid?.() === 0 ? "/var/cache/wharf-test" : join(tmpdir(), "wharf-test-images");
}

/** "deb URI SUITE COMPONENTS" lines for this machine's Debian release (its codename, -updates, -security). */
export function debianSources(): { codename: string; lines: string[] } {
  const osRelease = readFileSync("/etc/os-release", "utf8");
  const codename = /^VERSION_CODENAME=(\S+)$/m.exec(osRelease)?.[1];
  if (!codename) throw new Error("no VERSION_CODENAME in /etc/os-release");
  const suites = new Set([codename, `${codename}-updates`, `${codename}-security`]);
  const entries: { uri: string; suite: string; components: string }[] = [];
  const files = ["/etc/apt/sources.list"];
  const dir = "/etc/apt/sources.list.d";
  if (existsSync(dir)) for (const f of readdirSync(dir).sort()) files.push(join(dir, f));
  for (const file of files) {
    if (!existsSync(file)) continue;
    const text = readFileSync(file, "utf8");
    if (file.endsWith(".sources")) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const field = (k: string) => new RegExp(`^${k}:\\s*(.+)$`, "mi").exec(stanza)?.[1]?.trim() ?? "";
        if (!field("Types").split(/\s+/).includes("deb")) continue;
        for (const uri of field("URIs").split(/\s+/).filter(Boolean))
          for (const suite of field("Suites").split(/\s+/))
            entries.push({ uri, suite, components: field("Components") });
      }
    } else if (file.endsWith(".list")) {
      for (const m of text.matchAll(/^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s+(.+)$/gm))
        entries.push({ uri: m[1] as string, suite: m[2] as string, components: (m[3] as string).trim() });
    }
  }
  const lines = entries
    .filter((e) => suites.has(e.suite) && e.components.split(/\s+/).includes("main"))
    .map((e) => `deb ${e.uri} ${e.suite} main`);
  if (!lines.some((l) => l.endsWith(` ${codename} main`)))
    throw new Error(`no Debian "${codename} main" source in /etc/apt/sources.list*`);
  return { codename, lines: [...new Set(lines)] };
}

const MMDEBSTRAP_OPTS = [
  "--variant=minbase",
  "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr", // else usrmerge pulls in perl (50 MB)
  "--dpkgopt=path-exclude=/usr/share/man/*",
  "--dpkgopt=path-exclude=/usr/share/doc/*",
  "--dpkgopt=path-include=/usr/share/doc/*/copyright",
  "--dpkgopt=path-exclude=/usr/share/locale/*",
  '--aptopt=APT::Install-Recommends "false"',
];

interface Recipe {
  name: string;
  packages: string[];
  /** Shell commands run on the host with "$1" = the root file system (mmdebstrap --customize-hook). */
  hooks: string[];
  /** Files and strings that decide the content (the cache key). */
  inputs: (string | Buffer)[];
}

async function cachedRootfs(r: Recipe): Promise<string> {
  const { codename, lines } = debianSources();
  const hash = createHash("sha256");
  for (const i of [await readFile(SELF), codename, ...lines, ...r.packages, ...r.hooks, ...r.inputs])
    hash.update(i).update("\0");
  const dir = imageCacheDir();
  const tar = join(dir, `${r.name}-${hash.digest("hex").slice(0, 16)}.tar`);
  if (existsSync(tar)) return tar;
  await mkdir(dir, { recursive: true });
  // mmdebstrap picks the output format from the extension: keep ".tar" last
  const work = `${tar.slice(0, -4)}.tmp-${process.pid}.tar`;
  const argv = ["mmdebstrap", ...MMDEBSTRAP_OPTS, `--include=${r.packages.join(",")}`];
  for (const h of r.hooks) argv.push(`--customize-hook=${h}`);
  try {
    await runCommand([...argv, codename, work, ...lines], { timeoutMs: 900_000 });
    await rename(work, tar); // parallel runs: the last rename wins, both files are complete
  } finally {
    await rm(work, { force: true });
  }
  return tar;
}

/** An npm cache with exactly what the Dockerfile's deps stage installs, filled on the host. */
async function npmCacheFor(lock: Buffer): Promise<string> {
  const key = createHash("sha256")
    .update(lock)
    .update(await readFile(join(REPO_ROOT, "package.json")));
  const dir = join(imageCacheDir(), `npm-cache-${key.digest("hex").slice(0, 16)}`);
  if (existsSync(join(dir, "_cacache"))) return dir;
  const tmp = await makeTempDir("wharf-npm-cache-");
  try {
    const w = tmp.path;
    for (const f of ["package.json", "package-lock.json"])
      await writeFile(join(w, f), await readFile(join(REPO_ROOT, f)));
    const cache = join(w, "cache");
    await runCommand(["npm", "pkg", "delete", "devDependencies"], { cwd: w });
    await runCommand(
      [
        "npm",
        "ci",
        "--omit=dev",
        "--ignore-scripts",
        "--no-audit",
        "--no-fund",
        "--prefer-offline",
        "--cache",
        cache,
      ],
      { cwd: w, timeoutMs: 300_000 },
    );
    await rm(join(cache, "_logs"), { recursive: true, force: true });
    await mkdir(dirname(dir), { recursive: true });
    await rm(dir, { recursive: true, force: true });
    await rename(cache, dir);
  } finally {
    await tmp.remove();
  }
  return dir;
}

/** Builds (first time) or finds the cached base image tarballs. */
export async function ensureBaseImages(): Promise<BaseImages> {
  if (!findBinary("mmdebstrap")) throw new Error("mmdebstrap is not installed (system-packages.ts)");
  const node = realpathSync(join(REPO_ROOT, "node_modules", "node", "bin", "node"));
  const npmCli = findBinary("npm");
  if (!npmCli) throw new Error("npm is not on PATH");
  // npm is plain JavaScript: the host's installation runs on any Node
  const npmDir = dirname(dirname(realpathSync(npmCli)));
  const npmVersion = JSON.parse(await readFile(join(npmDir, "package.json"), "utf8")).version as string;
  const { stdout: nodeVersion } = await runCommand([node, "--version"]);
  const lock = await readFile(join(REPO_ROOT, "package-lock.json"));
  const npmCache = await npmCacheFor(lock);
  const q = shQuote;
  const nodeTar = await cachedRootfs({
    name: "node24",
    packages: ["ca-certificates"],
    hooks: [
      `mkdir -p "$1/usr/local/bin" "$1/usr/local/lib/node_modules" "$1/root"`,
      `cp ${q(node)} "$1/usr/local/bin/node"`,
      `cp -a ${q(npmDir)} "$1/usr/local/lib/node_modules/npm"`,
      `ln -s ../lib/node_modules/npm/bin/npm-cli.js "$1/usr/local/bin/npm"`,
      `ln -s ../lib/node_modules/npm/bin/npx-cli.js "$1/usr/local/bin/npx"`,
      `cp -a ${q(npmCache)} "$1/root/.npm"`,
      `rm -rf "$1/var/cache/apt/archives"/*.deb "$1/var/lib/apt/lists"/*`,
    ],
    inputs: [nodeVersion, npmVersion, lock],
  });
  const dindTar = await cachedRootfs({
    name: "dind",
    packages: ["ca-certificates", "docker.io", "openssl", "iptables", "procps"],
    hooks: [
      `install -D -m 0755 ${q(ENTRYPOINT)} "$1/usr/local/bin/dockerd-entrypoint.sh"`,
      `install -D -m 0644 ${q(DIND_DAEMON_JSON)} "$1/etc/docker/daemon.json"`,
      `rm -rf "$1/var/cache/apt/archives"/*.deb "$1/var/lib/apt/lists"/*`,
    ],
    inputs: [await readFile(ENTRYPOINT), await readFile(DIND_DAEMON_JSON)],
  });
  return {
    node: {
      tar: nodeTar,
      changes: [
        `ENV ${PATH_ENV}`,
        `ENV NODE_VERSION=${nodeVersion.trim().replace(/^v/, "")}`,
        // the deps stage's `npm ci` runs with no network: everything comes from the baked cache
        "ENV npm_config_offline=true",
        'CMD ["node"]',
      ],
    },
    dind: {
      tar: dindTar,
      changes: [
        `ENV ${PATH_ENV}`,
        "VOLUME /var/lib/docker",
        "EXPOSE 2375 2376",
        'ENTRYPOINT ["dockerd-entrypoint.sh"]',
        "CMD []",
      ],
    },
  };
}
