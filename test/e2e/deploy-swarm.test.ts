// Issue 17: compose/dns-mode with Docker Compose, and compose/swarm as a stack on a single-node
// swarm, both inside the test's Docker host namespace, with the commands compose/README.md gives.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { composeRunner, copyCompose, writeComposeOverride } from "../support/compose-project.ts";
import { type DeployWorld, DIND_IMAGE, startDeployWorld, WHARF_IMAGE } from "../support/deploy-world.ts";
import { runCommand } from "../support/run-command.ts";

const PULLS = ["alpine:3.20", "ghcr.io/acme/app:1", "registry.gitlab.com/group/project/tools:1"];
/** The dind override of compose-project.ts, as `docker run` flags (no --privileged on these machines). */
const DIND_FLAGS = [
  "--cap-add",
  "ALL",
  "--cap-drop",
  "SYS_RESOURCE",
  "--security-opt",
  "seccomp=unconfined",
  "--security-opt",
  "apparmor=unconfined",
  "--device-cgroup-rule",
  "a *:* rwm",
];

let w: DeployWorld;

beforeAll(async () => {
  w = await startDeployWorld("wds");
}, 900_000);

afterAll(async () => {
  await w?.stop();
});

async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs = 90_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

describe("compose/dns-mode with Docker Compose", () => {
  it("wharf answers the registry names at its fixed address; the builder pulls through it", async () => {
    const copy = await copyCompose(w, "dns-mode");
    const compose = composeRunner(w, copy, ["compose.yml", await writeComposeOverride(copy)], "wdm");
    try {
      await compose.run(["up", "-d"], { timeoutMs: 240_000 });
      await waitFor(
        "dind's dockerd",
        async () => (await compose.exec("dind", "docker version", { allowFailure: true })).code === 0,
      );
      const lookup = await compose.exec("dind", "getent hosts ghcr.io registry-1.docker.io");
      expect(
        lookup.stdout
          .split("\n")
          .filter(Boolean)
          .map((l) => l.split(/\s+/)[0]),
      ).toEqual(["172.30.53.10", "172.30.53.10"]);
      const m = w.marks();
      for (const ref of PULLS) await compose.exec("dind", `docker pull -q ${ref}`);
      const seen = w.since(m);
      expect(
        seen.filter((r) => r.path.includes("/manifests/") && r.status === 200).length,
      ).toBeGreaterThanOrEqual(3);
      expect(seen.filter((r) => !r.ua.startsWith("wharf/"))).toEqual([]);
    } finally {
      await compose.run(["down", "-v", "--timeout", "5"], { allowFailure: true });
    }
  }, 300_000);
});

describe("compose/swarm as a stack on a single-node swarm", () => {
  it("deploys, and a builder on the overlay network pulls through the aliases", async () => {
    const copy = await copyCompose(w, "swarm");
    const d = w.docker;
    const secrets = join(copy.dir, "secrets");
    // compose/README.md "Swarm stack": one CA for every replica
    await runCommand(
      [
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "rsa:3072",
        "-nodes",
        "-days",
        "3650",
        "-subj",
        "/CN=wharf swarm CA/O=wharf",
      ]
        .concat([
          "-addext",
          "basicConstraints=critical,CA:TRUE",
          "-addext",
          "keyUsage=critical,keyCertSign,cRLSign",
        ])
        .concat(["-keyout", join(secrets, "wharf_ca_key"), "-out", join(secrets, "wharf_ca_crt")]),
    );
    await d.docker(["swarm", "init", "--advertise-addr", w.ip.host]);
    const self = (await d.docker(["info", "--format", "{{.Swarm.NodeID}}"])).stdout.trim();
    await d.docker([
      "node",
      "update",
      "--label-add",
      "wharf=true",
      "--label-add",
      "wharf-registry=true",
      self,
    ]);
    // the hosted registry's pushers (compose/README.md): one bcrypt user
    await runCommand(["htpasswd", "-B", "-b", "-c", join(secrets, "wharf_htpasswd"), "ci", "ci-password"]);
    // test-only: the upstreams' CA as one more secret (upstreamCaFile in the test copy of wharf.yml),
    // and DNS round robin instead of the virtual IP: the test machines' kernel has no IPVS, which
    // swarm's virtual IPs need ("no route to host" to the VIP)
    await writeFile(
      join(copy.dir, "stack.test-override.yml"),
      // and a 1 s health check (the shipped 10 s interval only delays the first "healthy")
      'version: "3.8"\nservices:\n  wharf:\n    secrets: [test_upstream_ca]\n    deploy: {endpoint_mode: dnsrr}\n' +
        "    healthcheck: {interval: 1s}\n" +
        `secrets:\n  test_upstream_ca:\n    file: ${join(copy.root, "test-upstream-ca.crt")}\n`,
    );
    const swarmConfig = join(copy.dir, "wharf.yml");
    await writeFile(
      swarmConfig,
      (await readFile(swarmConfig, "utf8")).replace(copy.upstreamCa, "/run/secrets/test_upstream_ca"),
    );
    await d.docker(["stack", "deploy", "-c", "stack.yml", "-c", "stack.test-override.yml", "wharf"], {
      cwd: copy.dir,
      env: { WHARF_IMAGE },
    });
    await waitFor("the wharf task healthy", async () => {
      const r = await d.docker([
        "ps",
        "--filter",
        "label=com.docker.swarm.service.name=wharf_wharf",
        "--format",
        "{{.Status}}",
      ]);
      return r.stdout.includes("(healthy)");
    });

    // README: client files with wharf's own command, then a builder on wharf_builders
    const client = join(copy.dir, "client");
    await d.docker(
      ["run", "--rm", "--network", "none", "--user", "0", "-v", `${swarmConfig}:/etc/wharf/wharf.yml:ro`]
        .concat(["-v", `${secrets}:/run/secrets:ro`, "-v", `${client}:/client`, WHARF_IMAGE])
        .concat(["client-config", "docker", "--out", "/client"]),
    );
    const testCa = join(copy.root, "test-upstream-ca.crt");
    await d.docker(
      ["run", "-d", "--name", "builder-1", ...DIND_FLAGS, "--network", "wharf_builders"]
        .concat([
          "-v",
          `${client}/certs.d:/etc/docker/certs.d:ro`,
          "-v",
          `${client}/ca.crt:/wharf-ca/ca.crt:ro`,
        ])
        .concat(["-v", `${testCa}:/usr/local/share/ca-certificates/test-upstreams.crt:ro`])
        .concat(["--entrypoint", "/bin/sh", DIND_IMAGE, "-ec"])
        .concat([
          "cp /wharf-ca/ca.crt /usr/local/share/ca-certificates/wharf.crt; update-ca-certificates; exec dockerd-entrypoint.sh",
        ]),
    );
    try {
      await waitFor(
        "builder-1's dockerd",
        async () =>
          (await d.docker(["exec", "builder-1", "docker", "version"], { allowFailure: true })).code === 0,
      );
      const m = w.marks();
      for (const ref of PULLS) await d.docker(["exec", "builder-1", "docker", "pull", "-q", ref]);
      const seen = w.since(m);
      expect(
        seen.filter((r) => r.path.includes("/manifests/") && r.status === 200).length,
      ).toBeGreaterThanOrEqual(3);
      expect(seen.filter((r) => !r.ua.startsWith("wharf/"))).toEqual([]);
    } finally {
      await d.docker(["rm", "-f", "builder-1"], { allowFailure: true });
      await d.docker(["stack", "rm", "wharf"], { allowFailure: true });
    }
  }, 300_000);
});
