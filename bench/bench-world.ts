// Everything the benchmark runs against, on loopback addresses of its own: the bench CA, the
// upstream (docker-registry over TLS, no auth, so nginx can cache it) holding the bench images,
// and the contenders in front of it.
import { join } from "node:path";
import { loopbackIp } from "../test/support/ports.ts";
import { runCommand } from "../test/support/run-command.ts";
import { findBinary, REQUIRED_BINARIES } from "../test/support/system-packages.ts";
import { makeTempDir } from "../test/support/temp-dir.ts";
import { makeTestCa, type TestCa } from "../test/support/test-ca.ts";
import { startUpstreamRegistry, type UpstreamRegistry } from "../test/support/upstream-registry.ts";
import { type BenchImages, benchImages, pushBenchImages } from "./bench-images.ts";
import type { ClientEnv } from "./clients.ts";
import {
  type Contender,
  type ContenderName,
  directContender,
  distributionContender,
  HOST_NAMES,
  wharfContender,
} from "./contenders.ts";
import { nginxContender } from "./nginx-cache.ts";

const BINARIES = [
  "docker-registry",
  "skopeo",
  "nginx",
  "h2load",
  "ab",
  "curl",
  "openssl",
  "busybox",
  "setpriv",
];

export interface BenchWorld {
  images: BenchImages;
  /** The bench CA (replica figures start wharf processes of their own with it). */
  ca: TestCa;
  upstream: UpstreamRegistry;
  contenders: Contender[];
  env: ClientEnv;
  stop(): Promise<void>;
}

/** Installs missing tools with apt-get; throws loudly when that fails (never a silent skip). */
export async function ensureBenchTools(log: (line: string) => void): Promise<void> {
  const missing = BINARIES.filter((b) => !findBinary(b));
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map((b) => REQUIRED_BINARIES[b] ?? b))];
  log(`bench: installing ${packages.join(" ")}`);
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  await runCommand(["apt-get", "update"], { env, timeoutMs: 300_000 });
  await runCommand(["apt-get", "install", "-y", ...packages], { env, timeoutMs: 900_000 });
  const still = BINARIES.filter((b) => !findBinary(b));
  if (still.length > 0) throw new Error(`bench: still missing after apt-get install: ${still.join(", ")}`);
}

export async function startBenchWorld(opts: {
  bigMiB: number;
  midMiB: number;
  only?: readonly ContenderName[];
  cpuProfileDir?: string;
  /** wharf with an `access` section of rules (issue 16): the hot path with rule checks. */
  accessRules?: boolean;
  /** wharf's `workers` (the bench's default is 1: its RSS figures are one process's). */
  wharfWorkers?: number;
  log: (line: string) => void;
}): Promise<BenchWorld> {
  await ensureBenchTools(opts.log);
  let started = performance.now();
  const images = await benchImages(opts.bigMiB, opts.midMiB);
  opts.log(`images ready in ${((performance.now() - started) / 1000).toFixed(1)} s: ${images.layout}`);
  const temp = await makeTempDir("wharf-bench-");
  const stops: (() => Promise<void>)[] = [() => temp.remove()];
  const stop = async () => {
    for (const s of stops.splice(0).reverse()) await s().catch(() => {});
  };
  try {
    const ip = {
      upstream: loopbackIp(),
      wharf: loopbackIp(),
      distribution: loopbackIp(),
      nginx: loopbackIp(),
    };
    const ca = await makeTestCa(join(temp.path, "pki"), {
      dnsNames: Object.values(HOST_NAMES),
      ips: Object.values(ip),
      // longer than wharf's leafValidity: leaves capped by a CA that expires within renewBefore
      // would be renewed on every handshake
      days: 365,
    });
    const upstream = await startUpstreamRegistry({ host: ip.upstream, cert: ca.cert, key: ca.key });
    stops.push(() => upstream.stop());
    started = performance.now();
    const hosts = { [HOST_NAMES.direct]: ip.upstream };
    await pushBenchImages(images, HOST_NAMES.direct, { certDir: ca.certDir, hosts });
    opts.log(`images pushed to the upstream in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    const ctx = {
      ca,
      upstream,
      cpuProfileDir: opts.cpuProfileDir,
      accessRules: opts.accessRules,
      wharfWorkers: opts.wharfWorkers,
    };
    const want = (n: ContenderName) => !opts.only || opts.only.includes(n) || n === "direct";
    const contenders: Contender[] = [];
    const add = (c: Contender) => {
      contenders.push(c);
      stops.push(() => c.stop());
    };
    if (want("wharf")) add(await wharfContender(ctx, ip.wharf));
    if (want("distribution")) add(await distributionContender(ctx, ip.distribution));
    if (want("nginx")) add(await nginxContender(ctx, ip.nginx));
    add(directContender(ctx));
    const env: ClientEnv = { caFile: ca.caCert, certDir: ca.certDir, scratch: join(temp.path, "scratch") };
    return { images, ca, upstream, contenders, env, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
