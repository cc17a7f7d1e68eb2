// A private containerd + dockerd inside a topology namespace (testbed.md §6, dockerd-up.sh): its
// own /etc/docker (certs.d/<host>/ca.crt, daemon.json), resolv.conf, hosts, and the test CA as the
// whole system trust store, because dockerd ignores certs.d for Docker Hub (clients.md).
// Started through nsenter, not `ip netns exec`, which remounts /sys and hides the cgroups.
import { cp, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Topology } from "./netns.ts";
import { type OwnedProcess, tailFile } from "./owned-process.ts";
import { type RunOptions, type RunResult, runCommand } from "./run-command.ts";
import { shQuote } from "./sandbox.ts";
import { makeTempDir } from "./temp-dir.ts";

export interface DockerdOptions {
  /** The nameserver in dockerd's resolv.conf (wharf's DNS responder, or the topology's). */
  dnsIp: string;
  /** The test CA: system roots for dockerd and certs.d/<host>/ca.crt. */
  caFile: string;
  /** A certs.d tree copied over the default one (which covers the Docker Hub, ghcr.io and GitLab names). */
  certsD?: string;
  daemonJson?: Record<string, unknown>;
  hosts?: Record<string, string>;
  storageDriver?: "overlay2" | "vfs";
  /**
   * Give containers networks (a bridge, iptables NAT out of the namespace), as compose and swarm
   * need; the addresses go into daemon.json (bip, default-address-pools). Default: no bridge.
   */
  containerNetworks?: boolean;
}

export interface DockerCommandOptions extends RunOptions {
  /** Run the CLI inside the namespace with the test DNS and SSL_CERT_FILE (BuildKit: the CLI fetches tokens). */
  inNetns?: boolean;
}

export interface Dockerd {
  dir: string;
  /** unix:///…/docker.sock */
  dockerHost: string;
  /** Runs /usr/bin/docker (CLI 20.10; the /usr/local CLI lacks buildx) against this daemon. */
  docker(args: string[], opts?: DockerCommandOptions): Promise<RunResult>;
  logs(): string;
  stop(): Promise<void>;
}

const REGISTRY_NAMES = ["registry-1.docker.io", "docker.io", "ghcr.io", "registry.gitlab.com"];

// bash stays the parent of both daemons, so it reaps them (PID 1 here reaps orphans late, if at
// all) and a SIGTERM to it stops dockerd first, then containerd (testbed.md §6, "Stop").
function innerScript(d: string, storageDriver: string, caFile: string, networks: boolean): string {
  const q = shQuote;
  const sock = join(d, "ctd", "containerd.sock");
  return `set -e
mkdir -p /etc/docker
mount --bind ${q(join(d, "etc-docker"))} /etc/docker
mount --bind ${q(caFile)} /etc/ssl/certs/ca-certificates.crt
setpriv --pdeathsig TERM -- containerd --config ${q(join(d, "containerd.toml"))} > ${q(join(d, "containerd.log"))} 2>&1 &
CTD=$!
for i in $(seq 1 100); do [ -S ${q(sock)} ] && break; sleep 0.1; done
setpriv --pdeathsig TERM -- dockerd --containerd ${q(sock)} -H ${q(`unix://${join(d, "docker.sock")}`)} \\
  --data-root ${q(join(d, "data"))} --exec-root ${q(join(d, "exec"))} --pidfile ${q(join(d, "dockerd.pid"))} \\
  ${networks ? "--iptables=true" : "--iptables=false --ip6tables=false --bridge=none --ip-masq=false"} \\
  --storage-driver=${storageDriver} --config-file /etc/docker/daemon.json &
DOCKERD=$!
set +e
trap 'kill -TERM $DOCKERD 2>/dev/null' TERM INT
wait $DOCKERD; wait $DOCKERD
kill -TERM $CTD 2>/dev/null; wait $CTD
`;
}

export async function startDockerd(topology: Topology, ns: string, o: DockerdOptions): Promise<Dockerd> {
  const temp = await makeTempDir("wharf-dockerd-");
  const d = temp.path;
  for (const name of REGISTRY_NAMES) {
    await mkdir(join(d, "etc-docker", "certs.d", name), { recursive: true });
    await cp(o.caFile, join(d, "etc-docker", "certs.d", name, "ca.crt"));
  }
  if (o.certsD) await cp(o.certsD, join(d, "etc-docker", "certs.d"), { recursive: true });
  await writeFile(join(d, "etc-docker", "daemon.json"), JSON.stringify(o.daemonJson ?? {}));
  await mkdir(join(d, "ctd"), { recursive: true });
  const ctd = join(d, "ctd");
  await writeFile(
    join(d, "containerd.toml"),
    `version = 2\nroot = "${ctd}/root"\nstate = "${ctd}/state"\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n` +
      `[grpc]\n  address = "${ctd}/containerd.sock"\n[plugins."io.containerd.internal.v1.opt"]\n  path = "${ctd}/opt"\n`,
  );
  await writeFile(
    join(d, "inner.sh"),
    innerScript(d, o.storageDriver ?? "overlay2", o.caFile, o.containerNetworks === true),
  );
  const log = join(d, "dockerd.log");
  const dockerHost = `unix://${join(d, "docker.sock")}`;
  const env = { DOCKER_HOST: dockerHost, DOCKER_CONFIG: join(d, "cli") };
  let proc: OwnedProcess | undefined;

  const stop = async (): Promise<void> => {
    await proc?.stop(20_000);
    await temp.remove().catch(() => {});
  };
  const docker = (args: string[], opts: DockerCommandOptions = {}): Promise<RunResult> => {
    const cmd = ["/usr/bin/docker", ...args];
    const runEnv = { ...env, ...opts.env };
    if (!opts.inNetns) return runCommand(cmd, { ...opts, env: runEnv });
    const inner = { ...opts, env: { ...runEnv, SSL_CERT_FILE: o.caFile }, resolv: o.dnsIp, hosts: o.hosts };
    return topology.run(ns, cmd, inner);
  };

  try {
    proc = await topology.spawnIn(ns, ["bash", join(d, "inner.sh")], {
      resolv: o.dnsIp,
      hosts: o.hosts,
      stdoutFile: log,
      stderrFile: log,
    });
    for (let i = 0; ; i++) {
      const r = await runCommand(["/usr/bin/docker", "version"], {
        env,
        allowFailure: true,
        timeoutMs: 5000,
      });
      if (r.code === 0) break;
      if (!proc.alive() || i > 600) throw new Error(`dockerd did not come up in ${ns}\n${tailFile(log, 20)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return { dir: d, dockerHost, docker, logs: () => tailFile(log, 100_000), stop };
}
