// The generated hosts.toml files, read by the real ctr (containerd 1.6): it must send its pulls to wharf's
// mirror endpoint with ?ns=docker.io, over plain HTTP and over TLS verified with wharf's CA.
// Every address is on loopback; ctr runs with a private resolv.conf and hosts file.
import { mkdir, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadOrCreateCa } from "../../certs/certificate-authority.ts";
import { LeafCertificates } from "../../certs/leaf-certificates.ts";
import { type OwnedProcess, spawnOwned, tailFile } from "../../test/support/owned-process.ts";
import { runCommand } from "../../test/support/run-command.ts";
import { createSandbox, type Sandbox } from "../../test/support/sandbox.ts";
import { makeTempDir, type TempDir } from "../../test/support/temp-dir.ts";
import { buildConfig } from "../config/load-config.ts";
import { createHttpsListener, listen } from "../server/https-listener.ts";
import { containerdHostsConfig } from "./containerd-hosts.ts";

let tmp: TempDir;
let sandbox: Sandbox;
let containerd: OwnedProcess;
let socket: string;
const seen: string[] = [];
const closers: (() => void)[] = [];

/** A mirror that records what it is asked and has nothing: ctr then moves on to the next host. */
function record(req: { method?: string; url?: string }, res: MinimalResponse): void {
  seen.push(`${req.method} ${req.url}`);
  res.statusCode = 404;
  res.setHeader("content-type", "application/json");
  res.end(JSON.stringify({ errors: [{ code: "MANIFEST_UNKNOWN", message: "test mirror" }] }));
}

interface MinimalResponse {
  statusCode: number;
  setHeader(name: string, value: string): unknown;
  end(body: string): unknown;
}

beforeAll(async () => {
  tmp = await makeTempDir("wharf-ctr-");
  socket = join(tmp.path, "ctd.sock");
  const ctdConfig = [
    "version = 2",
    `root = ${JSON.stringify(join(tmp.path, "root"))}`,
    `state = ${JSON.stringify(join(tmp.path, "state"))}`,
    'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
    "[grpc]",
    `  address = ${JSON.stringify(socket)}`,
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = ${JSON.stringify(join(tmp.path, "opt"))}`,
  ].join("\n");
  await writeFile(join(tmp.path, "containerd.toml"), `${ctdConfig}\n`);
  const log = join(tmp.path, "containerd.log");
  containerd = spawnOwned(["containerd", "--config", join(tmp.path, "containerd.toml")], { stderrFile: log });
  const deadline = Date.now() + 15_000;
  for (;;) {
    const r = await runCommand(["ctr", "-a", socket, "version"], { allowFailure: true, timeoutMs: 5000 });
    if (r.code === 0) break;
    if (!containerd.alive() || Date.now() > deadline)
      throw new Error(`containerd did not start:\n${tailFile(log)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  sandbox = await createSandbox();
});

afterAll(async () => {
  for (const close of closers) close();
  await containerd?.stop();
  await sandbox?.dispose();
  await tmp?.remove();
});

async function writeHosts(dir: string, files: { path: string; content: string }[]): Promise<string> {
  for (const f of files) {
    const path = join(dir, f.path);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, f.content);
  }
  return join(dir, "certs.d");
}

/** ctr pull through the hosts dir; it fails (the mirror has nothing, the server is a closed port). */
async function pull(hostsDir: string): Promise<string> {
  seen.length = 0;
  const argv = [
    "ctr",
    "-a",
    socket,
    "images",
    "pull",
    "--hosts-dir",
    hostsDir,
    "docker.io/library/busybox:latest",
  ];
  const r = await runCommand(sandbox.wrap(argv), { allowFailure: true, timeoutMs: 30_000 });
  return r.stderr;
}

// docker.io's upstream is a closed loopback port, so ctr's fallback to the server cannot leave the machine.
const registries = { "docker.io": { upstream: "http://127.0.0.1:9" } };

describe("containerd hosts.toml with the real ctr", () => {
  it("sends pulls to the plain-HTTP mirror with ?ns=docker.io", async () => {
    const mirror = createServer(record);
    const { port } = await new Promise<AddressInfo>((r) =>
      mirror.listen(0, "127.0.0.1", () => r(mirror.address() as AddressInfo)),
    );
    closers.push(() => mirror.close());
    const { config } = buildConfig({ listen: { http: `127.0.0.1:${port}` }, registries });
    const ca = await loadOrCreateCa({ dir: join(tmp.path, "ca"), hostname: "test" });
    const out = join(tmp.path, "plain");
    const generated = containerdHostsConfig({
      config,
      caPem: ca.certPem,
      address: "127.0.0.1",
      installDir: join(out, "certs.d"),
    });
    const stderr = await pull(await writeHosts(out, generated.files));
    expect(seen, stderr).toContain("HEAD /v2/library/busybox/manifests/latest?ns=docker.io");
  });

  it("sends pulls to the TLS mirror and verifies it with wharf's CA from the ca path", async () => {
    const ca = await loadOrCreateCa({ dir: join(tmp.path, "ca"), hostname: "test" });
    const certs = new LeafCertificates({
      ca,
      dir: join(tmp.path, "ca"),
      groups: { "docker.io": ["docker.io", "localhost"] },
      validityMs: 86_400_000,
      renewBeforeMs: 0,
    });
    await certs.prepare();
    const server = createHttpsListener({ certs, requestListener: record });
    const { port } = await listen(server, "127.0.0.1", 0);
    closers.push(() => server.close());
    const { config } = buildConfig({ listen: { https: `127.0.0.1:${port}` }, registries });
    const out = join(tmp.path, "tls");
    const generated = containerdHostsConfig({
      config,
      caPem: ca.certPem,
      address: "localhost",
      https: true,
      installDir: join(out, "certs.d"),
    });
    const stderr = await pull(await writeHosts(out, generated.files));
    expect(seen, stderr).toContain("HEAD /v2/library/busybox/manifests/latest?ns=docker.io");

    // The same files with another CA: the TLS handshake fails, so the mirror sees nothing.
    const other = await loadOrCreateCa({ dir: join(tmp.path, "other-ca"), hostname: "other" });
    const wrong = join(tmp.path, "tls-wrong-ca");
    const hostsDir = await writeHosts(
      wrong,
      containerdHostsConfig({
        config,
        caPem: other.certPem,
        address: "localhost",
        https: true,
        installDir: join(wrong, "certs.d"),
      }).files,
    );
    const err = await pull(hostsDir);
    expect(seen).toEqual([]);
    expect(err).toMatch(/certificate|x509/i);
  });
});
