// Issue 17: the image and compose/network-alias as users run them. The wharf image is built from the
// repository's Dockerfile (no network, local Node 24 base), then compose/network-alias comes up with
// Docker Compose inside the test's Docker host namespace: the builders pull `alpine:3.20`,
// `ghcr.io/…` and `registry.gitlab.com/…` by their unchanged names through wharf's aliases, and
// straight from the upstreams once wharf is stopped (compose/README.md).
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ComposeCopy,
  type ComposeRunner,
  composeRunner,
  copyCompose,
  writeComposeOverride,
} from "../support/compose-project.ts";
import { type DeployWorld, startDeployWorld, WHARF_IMAGE } from "../support/deploy-world.ts";
import { spawnOwned, tailFile } from "../support/owned-process.ts";
import { findBinary } from "../support/system-packages.ts";

const PULLS = ["alpine:3.20", "ghcr.io/acme/app:1", "registry.gitlab.com/group/project/tools:1"];

let w: DeployWorld;
let copy: ComposeCopy;
let compose: ComposeRunner;

beforeAll(async () => {
  w = await startDeployWorld("wdc");
  copy = await copyCompose(w, "network-alias");
  const override = await writeComposeOverride(copy, ["dind-2"]);
  compose = composeRunner(w, copy, ["compose.yml", override], "wna");
}, 900_000); // the first run on a machine builds the base images (about 2 minutes)

afterAll(async () => {
  await compose?.run(["down", "-v", "--timeout", "5"], { allowFailure: true });
  await w?.stop();
});

const inspect = async (name: string, format: string) =>
  (await w.docker.docker(["inspect", "--format", format, name])).stdout.trim();

async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

describe("the wharf image", () => {
  it("runs as its fixed non-root user and answers its HEALTHCHECK", async () => {
    expect(await inspect(WHARF_IMAGE, "{{.Config.User}}")).toBe("wharf");
    const id = await w.docker.docker(["run", "--rm", "--network", "none", "--entrypoint", "id", WHARF_IMAGE]);
    expect(id.stdout).toMatch(/^uid=10001\(wharf\) gid=10001\(wharf\)/);
    // the image's own probe, run sooner than its 10 s interval
    await w.docker.docker(["run", "-d", "--name", "img-health", "--health-interval", "1s", WHARF_IMAGE]);
    await waitFor(
      "healthy",
      async () => (await inspect("img-health", "{{.State.Health.Status}}")) === "healthy",
    );
    await w.docker.docker(["rm", "-f", "img-health"]);
  });

  it("starts with a TTY (docker run -it)", async () => {
    const script = findBinary("script");
    if (!script) throw new Error("script (bsdutils) is not installed");
    const log = join(w.dir, "tty.log");
    const cmd = `/usr/bin/docker run --rm -it --name img-tty --health-interval 1s ${WHARF_IMAGE}`;
    const proc = spawnOwned([script, "-qefc", cmd, "/dev/null"], {
      stdoutFile: log,
      stderrFile: log,
      env: { DOCKER_HOST: w.docker.dockerHost },
    });
    try {
      await waitFor(
        "healthy with a TTY",
        async () =>
          (
            await w.docker.docker(["inspect", "--format", "{{.State.Health.Status}}", "img-tty"], {
              allowFailure: true,
            })
          ).stdout.trim() === "healthy" || !proc.alive(),
      );
      expect(proc.alive(), tailFile(log, 30)).toBe(true);
      await w.docker.docker(["stop", "--time", "10", "img-tty"]);
      const exit = await proc.exited;
      expect(exit.code, tailFile(log, 30)).toBe(0);
    } finally {
      await proc.stop();
    }
  });
});

describe("compose/network-alias with Docker Compose", () => {
  it("comes up: wharf healthy, the client-config one-shot exits 0, the builders' dockerd runs", async () => {
    await compose.run(["config", "-q"]);
    await compose.run(["up", "-d"], { timeoutMs: 240_000 });
    expect(await inspect(compose.container("wharf"), "{{.State.Health.Status}}")).toBe("healthy");
    expect(
      await inspect(compose.container("wharf-client-config"), "{{.State.Status}} {{.State.ExitCode}}"),
    ).toBe("exited 0");
    for (const b of ["dind", "dind-2"])
      await waitFor(`${b}'s dockerd`, async () => {
        const r = await compose.exec(b, "docker version", { allowFailure: true });
        return r.code === 0;
      });
  }, 300_000);

  it("the builder pulls by unchanged names through wharf's aliases", async () => {
    const m = w.marks();
    for (const ref of PULLS) await compose.exec("dind", `docker pull -q ${ref}`);
    const seen = w.since(m);
    expect(
      seen.filter((r) => r.path.includes("/manifests/") && r.status === 200).length,
    ).toBeGreaterThanOrEqual(3);
    expect(seen.filter((r) => !r.ua.startsWith("wharf/"))).toEqual([]);
    const logs = (await w.docker.docker(["logs", compose.container("wharf")])).stdout;
    for (const path of ["library/alpine", "acme/app", "group/project/tools"]) expect(logs).toContain(path);
    const run = await compose.exec("dind", "docker run --rm alpine:3.20 cat /etc/motd");
    expect(run.stdout).toBe("wharf test image\n");
  });

  it("a second builder's pulls make no upstream request", async () => {
    const m = w.marks();
    for (const ref of PULLS) await compose.exec("dind-2", `docker pull -q ${ref}`);
    expect(w.since(m)).toEqual([]);
  });

  it("with wharf stopped, the same names pull straight from the upstreams", async () => {
    await compose.run(["stop", "wharf"]);
    await compose.exec("dind", `docker image rm ${PULLS.join(" ")}`);
    const m = w.marks();
    for (const ref of PULLS) await compose.exec("dind", `docker pull -q ${ref}`);
    const seen = w.since(m);
    const manifests = seen.filter((r) => r.path.includes("/manifests/") && r.status === 200);
    expect(manifests.length).toBeGreaterThanOrEqual(3);
    expect(seen.every((r) => r.ua.startsWith("docker/"))).toBe(true);
    await compose.run(["start", "wharf"]);
  });

  it("the gitlab-runner profile is a valid compose configuration", async () => {
    // The runner binary itself is not packaged by Debian (no gitlab-runner in bookworm), so its
    // config.toml cannot be checked with `gitlab-runner verify` here: compose/README.md says so.
    const r = await compose.run(["--profile", "gitlab-runner", "config", "--services"]);
    expect(r.stdout.split("\n")).toContain("gitlab-runner");
  });
});
