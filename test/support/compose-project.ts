// A test copy of compose/ brought up with Docker Compose against the deploy world's dockerd. The
// compose files are used unchanged; what differs is in the copy of compose/wharf.yml (upstreamDns
// and upstreamCaFile point at the test's "internet", the GitLab auth block is gone since the test
// upstream has no auth) and in a test-only override file:
// - dind: `privileged: true` cannot start a container on these machines (CAP_SYS_RESOURCE is not in
//   the bounding set; dockerd gives privileged containers every capability and fails), so the
//   override grants everything else and the entrypoint stand-in remounts /proc/sys etc. read-write;
// - the test CA (standing in for the public roots the real registries chain to) for wharf and the
//   builders, so that direct pulls verify once wharf is gone, as they would against the real ones.
import { chown, cp, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import type { DeployWorld } from "./deploy-world.ts";
import { DIND_IMAGE, WHARF_IMAGE } from "./deploy-world.ts";
import { type RunOptions, type RunResult, runCommand } from "./run-command.ts";
import { REPO_ROOT } from "./wharf-process.ts";

export type ComposeMode = "network-alias" | "dns-mode" | "swarm";

/** Docker Compose: Debian ships 1.29 (`docker-compose`); the v2 plugin is not packaged there. */
export const COMPOSE = ["docker-compose"];

const DIND_OVERRIDE = {
  privileged: false,
  cap_add: ["ALL"],
  cap_drop: ["SYS_RESOURCE"],
  security_opt: ["seccomp=unconfined", "apparmor=unconfined"],
  device_cgroup_rules: ["a *:* rwm"],
};

export interface ComposeCopy {
  /** The copy of compose/. */
  root: string;
  /** compose/<mode> inside it. */
  dir: string;
  /** Path of the test CA as seen inside wharf's container (upstreamCaFile). */
  upstreamCa: string;
}

/** Copies compose/ and writes the test copy of wharf.yml (and swarm/wharf.yml) and the secrets. */
export async function copyCompose(w: DeployWorld, mode: ComposeMode): Promise<ComposeCopy> {
  const root = join(w.dir, `compose-${mode}`);
  await cp(join(REPO_ROOT, "compose"), root, { recursive: true });
  const upstreamCa = "/etc/wharf/upstream-ca.crt";
  for (const file of ["wharf.yml", "swarm/wharf.yml"]) {
    const config = parse(await readFile(join(root, file), "utf8"));
    config.upstreamDns = `${w.ip.dns}:53`;
    config.upstreamCaFile = upstreamCa;
    delete config.registries["registry.gitlab.com"].auth;
    await writeFile(join(root, file), stringify(config));
  }
  const dir = join(root, mode);
  await mkdir(join(dir, "secrets"), { recursive: true });
  const token = join(dir, "secrets", "gitlab_registry_token");
  // swarm refuses empty secrets ("secret data must be larger than 0"): compose/README.md
  await writeFile(token, mode === "swarm" ? "unused" : "", { mode: 0o400 });
  await chown(token, 10001, 10001);
  await cp(w.ca.caCert, join(root, "test-upstream-ca.crt"));
  return { root, dir, upstreamCa };
}

/** The test-only override for compose.yml of network-alias and dns-mode. `extraBuilders` copies dind. */
export async function writeComposeOverride(c: ComposeCopy, extraBuilders: string[] = []): Promise<string> {
  const compose = parse(await readFile(join(c.dir, "compose.yml"), "utf8"));
  const testCa = join(c.root, "test-upstream-ca.crt");
  const dind = {
    ...DIND_OVERRIDE,
    // update-ca-certificates in the entrypoint adds it to the system store next to wharf's CA
    volumes: [`${testCa}:/usr/local/share/ca-certificates/test-upstreams.crt:ro`],
  };
  const services: Record<string, unknown> = {
    // test-only: a 1 s health check; the image's 10 s interval only delays the first "healthy",
    // which `up` waits for (depends_on: service_healthy)
    wharf: { volumes: [`${testCa}:${c.upstreamCa}:ro`], healthcheck: { interval: "1s" } },
    dind,
  };
  const volumes: Record<string, unknown> = {};
  for (const name of extraBuilders) {
    // "copy this service with its own dind-certs and dind-data volumes" (compose.yml)
    const copy = structuredClone(compose.services.dind);
    copy.volumes = (copy.volumes as string[]).map((v) => v.replace(/^dind-(certs|data):/, `${name}-$1:`));
    copy.volumes.push(...dind.volumes);
    copy.networks = { builders: {} };
    services[name] = { ...copy, ...DIND_OVERRIDE };
    volumes[`${name}-certs`] = {};
    volumes[`${name}-data`] = {};
  }
  const file = join(c.dir, "compose.test-override.yml");
  await writeFile(file, stringify({ services, ...(extraBuilders.length ? { volumes } : {}) }));
  return file;
}

export interface ComposeRunner {
  run(args: string[], opts?: RunOptions): Promise<RunResult>;
  /** `exec -T <service> sh -c <script>`. */
  exec(service: string, script: string, opts?: RunOptions): Promise<RunResult>;
  /** Container name of a service's first replica (compose 1.29 naming). */
  container(service: string): string;
}

export function composeRunner(
  w: DeployWorld,
  c: ComposeCopy,
  files: string[],
  project: string,
): ComposeRunner {
  const env = {
    DOCKER_HOST: w.docker.dockerHost,
    WHARF_IMAGE,
    DIND_IMAGE,
    COMPOSE_PROJECT_NAME: project,
  };
  const base = [...COMPOSE, ...files.flatMap((f) => ["-f", f])];
  const run = (args: string[], o: RunOptions = {}) =>
    runCommand([...base, ...args], { cwd: c.dir, timeoutMs: 180_000, ...o, env: { ...env, ...o.env } });
  return {
    run,
    exec: (service, script, o) => run(["exec", "-T", service, "sh", "-c", script], o),
    container: (service) => `${project}_${service}_1`,
  };
}
