// `wharf doctor` as an operator runs it, against a real deployment on loopback: wharf itself
// (wharf serve: HTTPS, DNS and HTTP listeners, its own CA), a real docker-registry with token auth
// behind a token server, and dnsmasq as upstreamDns. The CLI runs in a private mount namespace
// (resolv.conf -> 127.0.0.1): every name it meets is answered by the test's own servers. As a
// builder it runs with a private /etc/hosts, trust store and /etc/docker/certs.d bound over the
// machine's (what a builder's dockerd reads) and a copy of the config whose dataDir it lacks.
import { cp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { stringify } from "yaml";
import type { DoctorReport } from "../../gateway/doctor/run-doctor.ts";
import { type Dnsmasq, startDnsmasq } from "../support/dns-testbed.ts";
import { freePort, loopbackIp } from "../support/ports.ts";
import { runCommand } from "../support/run-command.ts";
import { createSandbox, type SandboxOptions } from "../support/sandbox.ts";
import { makeTempDir } from "../support/temp-dir.ts";
import { makeTestCa } from "../support/test-ca.ts";
import { startTokenServer, type TokenServer } from "../support/token-server.ts";
import { startUpstreamRegistry, type UpstreamRegistry } from "../support/upstream-registry.ts";
import { REPO_ROOT, startWharf, type WharfProcess } from "../support/wharf-process.ts";

const NODE = join(REPO_ROOT, "node_modules", ".bin", "node");
const WHARF = join(REPO_ROOT, "bin", "wharf.mjs");

describe("wharf doctor", () => {
  const upstreamIp = loopbackIp();
  const wharfIp = loopbackIp();
  let dir: string;
  let removeDir: () => Promise<void>;
  let tokens: TokenServer | undefined;
  let registry: UpstreamRegistry | undefined;
  let dnsmasq: Dnsmasq | undefined;
  let wharf: WharfProcess | undefined;
  let config: Record<string, unknown>;
  let certsD: string;
  let wharfCa: string;
  /** A system trust store holding wharf's CA, and one that does not (the test upstream's CA only). */
  let storeWith: string;
  let storeWithout: string;

  beforeAll(async () => {
    const temp = await makeTempDir("wharf-doctor-");
    dir = temp.path;
    removeDir = temp.remove;
    const pki = await makeTestCa(join(dir, "pki"), {
      dnsNames: ["upstream.wharf.test", "auth.wharf.test"],
      ips: [upstreamIp],
    });
    tokens = await startTokenServer({
      host: upstreamIp,
      cert: pki.cert,
      key: pki.key,
      issuer: "wharf-test",
      users: { alice: "secret" },
    });
    const realm = `https://auth.wharf.test:${tokens.port}/token`;
    registry = await startUpstreamRegistry({
      host: upstreamIp,
      port: 0,
      cert: pki.cert,
      key: pki.key,
      auth: {
        kind: "token",
        realm,
        service: "upstream.wharf.test",
        issuer: "wharf-test",
        rootCertBundle: pki.caCert,
      },
    });
    dnsmasq = await startDnsmasq([
      `--address=/upstream.wharf.test/${upstreamIp}`,
      `--address=/auth.wharf.test/${upstreamIp}`,
    ]);
    const port = () => freePort(wharfIp);
    wharf = await startWharf({
      config: {
        listen: {
          http: `${wharfIp}:${await port()}`,
          https: `${wharfIp}:${await port()}`,
          dns: `${wharfIp}:${await port()}`,
        },
        upstreamDns: `127.0.0.1:${dnsmasq.port}`,
        upstreamCaFile: pki.caCert,
        dns: { answer: [wharfIp], allow: ["127.0.0.0/8"] },
        defaultRegistry: "hub.wharf.test",
        registries: {
          "hub.wharf.test": {
            upstream: `https://upstream.wharf.test:${registry.port}`,
            aliases: ["mirror.wharf.test"],
            auth: { username: "alice", password: "secret" },
          },
          // Docker Hub's names, for which dockerd reads only the system trust store.
          "docker.io": {
            upstream: `https://upstream.wharf.test:${registry.port}`,
            aliases: ["registry-1.docker.io"],
            auth: { username: "alice", password: "secret" },
          },
        },
      },
    });
    config = wharf.config;
    // What `wharf client-config docker` gives builders: certs.d/<host>/ca.crt with wharf's CA.
    wharfCa = join(String(config.dataDir), "ca.crt");
    certsD = join(dir, "certs.d");
    for (const host of ["hub.wharf.test", "mirror.wharf.test"]) {
      await mkdir(join(certsD, host), { recursive: true });
      await cp(wharfCa, join(certsD, host, "ca.crt"));
    }
    storeWithout = join(dir, "store-without.crt");
    await cp(pki.caCert, storeWithout);
    storeWith = join(dir, "store-with.crt");
    await writeFile(storeWith, (await readFile(pki.caCert, "utf8")) + (await readFile(wharfCa, "utf8")));
  }, 120_000);

  afterAll(async () => {
    await Promise.allSettled([wharf?.stop(), registry?.stop(), tokens?.stop(), dnsmasq?.stop()]);
    await removeDir?.();
  });

  /** Runs the CLI with `doc` as its config file; returns the exit code and the parsed --json report. */
  async function doctor(
    doc: Record<string, unknown>,
    ...args: string[]
  ): Promise<{ code: number | null; report: DoctorReport; stdout: string }> {
    return doctorIn({}, doc, ...args);
  }

  async function doctorIn(
    box: SandboxOptions,
    doc: Record<string, unknown>,
    ...args: string[]
  ): Promise<{ code: number | null; report: DoctorReport; stdout: string }> {
    const file = join(dir, `doctor-${Math.random().toString(36).slice(2)}.yml`);
    await writeFile(file, stringify(doc));
    const sandbox = await createSandbox(box);
    try {
      const r = await runCommand(sandbox.wrap([NODE, WHARF, "doctor", "--config", file, ...args]), {
        allowFailure: true,
        cwd: REPO_ROOT,
        timeoutMs: 60_000,
      });
      const report = args.includes("--json") ? (JSON.parse(r.stdout) as DoctorReport) : ({} as DoctorReport);
      return { code: r.code, report, stdout: r.stdout };
    } finally {
      await sandbox.dispose();
    }
  }

  const failing = (r: DoctorReport) => r.checks.filter((c) => !c.ok).map((c) => c.name);
  const check = (r: DoctorReport, name: string) => r.checks.find((c) => c.name === name);

  /** This machine's dockerd trusting wharf: certs.d for the private names, the system store for Docker Hub's. */
  const trusted = () => ["--certs-d", certsD, "--trust-store", storeWith];

  test("a healthy deployment passes every check, and no pull is spent", async () => {
    const before = registry?.mark();
    const tokensBefore = tokens?.requests.length ?? 0;
    const { code, report } = await doctor(config, "--json", ...trusted(), "--repository", "acme/app");
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    expect(code).toBe(0);
    expect(report.checks.map((c) => c.name)).toEqual([
      "config",
      "listen.https",
      "listen.http",
      "listen.dns",
      "dns hub.wharf.test",
      "dns mirror.wharf.test",
      "dns docker.io",
      "dns registry-1.docker.io",
      "upstream dns",
      "upstream hub.wharf.test",
      "upstream docker.io",
      "ca",
      "tls hub.wharf.test",
      "tls mirror.wharf.test",
      "tls docker.io",
      "tls registry-1.docker.io",
      "clock",
    ]);
    expect(check(report, "dns hub.wharf.test")?.detail).toContain(wharfIp);
    expect(check(report, "upstream dns")?.detail).toContain(upstreamIp);
    expect(check(report, "upstream hub.wharf.test")?.detail).toContain(
      "token for repository:acme/app:pull granted as alice",
    );
    expect(check(report, "tls hub.wharf.test")?.detail).toContain(join(certsD, "hub.wharf.test", "ca.crt"));
    expect(check(report, "tls docker.io")?.detail).toContain(`trusted via ${storeWith}`);
    expect(check(report, "clock")?.detail).toContain("within");
    // The token service saw alice ask for a pull token; the registry saw only /v2/ pings, no manifest.
    const asked = tokens?.requests.slice(tokensBefore) ?? [];
    expect(
      asked.some(
        (t) => t.user === "alice" && t.scopes.includes("repository:acme/app:pull") && t.status === 200,
      ),
    ).toBe(true);
    const seen = registry?.requests(before) ?? [];
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((r) => r.path === "/v2/")).toBe(true);
  });

  test("wrong credentials, DNS pointing elsewhere and a CA missing from certs.d are each reported, exit 1", async () => {
    await rm(join(certsD, "mirror.wharf.test"), { recursive: true, force: true });
    try {
      const reg = (config.registries as Record<string, Record<string, unknown>>)["hub.wharf.test"];
      const wrong = {
        ...config,
        registries: {
          "hub.wharf.test": { ...reg, auth: { username: "alice", password: "not-her-password" } },
        },
      };
      const { code, report } = await doctor(
        wrong,
        "--json",
        "--certs-d",
        certsD,
        "--trust-store",
        storeWithout,
        "--expect",
        "127.9.9.9",
      );
      expect(code).toBe(1);
      expect(report.ok).toBe(false);
      expect(failing(report).sort()).toEqual([
        "dns hub.wharf.test",
        "dns mirror.wharf.test",
        "tls mirror.wharf.test",
        "upstream hub.wharf.test",
      ]);
      expect(check(report, "upstream hub.wharf.test")?.detail).toContain(
        "refused the configured credentials",
      );
      expect(check(report, "upstream hub.wharf.test")?.fix).toContain("registries.hub.wharf.test.auth");
      expect(check(report, "dns hub.wharf.test")?.detail).toContain(`answers ${wharfIp}; wharf is 127.9.9.9`);
      expect(check(report, "tls mirror.wharf.test")?.fix).toContain(
        `on the builder: get wharf's CA with \`wharf ca export --out wharf-ca.crt\` on wharf's host and copy it to ${join(certsD, "mirror.wharf.test", "ca.crt")}`,
      );
    } finally {
      await mkdir(join(certsD, "mirror.wharf.test"), { recursive: true });
      await cp(join(certsD, "hub.wharf.test", "ca.crt"), join(certsD, "mirror.wharf.test", "ca.crt"));
    }
  });

  describe("on a builder: its hosts file, its /etc/docker/certs.d and trust store, no dataDir", () => {
    const names = ["hub.wharf.test", "mirror.wharf.test", "docker.io", "registry-1.docker.io"];

    /** Runs doctor with defaults only, as on a builder whose certs.d holds wharf's CA for `certsFor`. */
    async function onBuilder(store: string, certsFor: string[], ...args: string[]) {
      const etcDocker = join(dir, `etc-docker-${Math.random().toString(36).slice(2)}`);
      await mkdir(join(etcDocker, "certs.d"), { recursive: true });
      for (const h of certsFor) {
        await mkdir(join(etcDocker, "certs.d", h));
        await cp(wharfCa, join(etcDocker, "certs.d", h, "ca.crt"));
      }
      const builderConfig = { ...config, dataDir: join(dir, "not-on-this-builder") };
      return doctorIn(
        {
          hosts: Object.fromEntries(names.map((n) => [n, wharfIp])),
          binds: [
            [store, "/etc/ssl/certs/ca-certificates.crt"],
            [etcDocker, "/etc/docker"],
          ],
        },
        builderConfig,
        "--json",
        ...args,
      );
    }

    test("Docker Hub's names trusted only via certs.d fail: dockerd ignores it there", async () => {
      const { code, report } = await onBuilder(storeWithout, names);
      expect(code).toBe(1);
      expect(failing(report)).toEqual(["tls docker.io", "tls registry-1.docker.io"]);
      const hub = check(report, "tls docker.io");
      expect(hub?.detail).toContain(
        "not trusted by the system trust store /etc/ssl/certs/ca-certificates.crt",
      );
      expect(hub?.detail).toContain(
        "/etc/docker/certs.d/docker.io/ca.crt holds it, but dockerd ignores certs.d for Docker Hub's names",
      );
      expect(hub?.fix).toMatch(/^on the builder: .*update-ca-certificates/);
      expect(check(report, "tls hub.wharf.test")?.detail).toContain(
        "trusted via /etc/docker/certs.d/hub.wharf.test/ca.crt",
      );
      // Off wharf's host: nothing dials wharf's listeners or the upstreams from here.
      expect(check(report, "listen")).toMatchObject({ ok: true, skipped: true });
      expect(check(report, "upstream")).toMatchObject({ ok: true, skipped: true });
      expect(check(report, "dns docker.io")?.detail).toBe(`${wharfIp} (from this machine's resolver)`);
    });

    test("wharf's CA in the system trust store passes every name; --ca compares with a known CA", async () => {
      const presented = await onBuilder(storeWith, []);
      expect(failing(presented.report)).toEqual([]);
      expect(presented.code).toBe(0);
      expect(check(presented.report, "tls docker.io")?.detail).toContain(
        "trusted via /etc/ssl/certs/ca-certificates.crt",
      );
      expect(check(presented.report, "ca")?.detail).toMatch(
        /^wharf presents certificates issued by CN=wharf local CA/,
      );
      const given = await onBuilder(storeWith, [], "--ca", wharfCa);
      expect(failing(given.report)).toEqual([]);
      expect(check(given.report, "ca")?.detail).toContain("SHA-256");
      // A CA that is not wharf's: every name presents a certificate it did not issue.
      const other = await onBuilder(storeWith, [], "--ca", storeWithout);
      expect(failing(other.report)).toEqual(names.map((n) => `tls ${n}`));
      expect(check(other.report, "tls docker.io")?.detail).toContain("not by wharf's CA");
    });

    test("a private name missing from certs.d (and from the trust store) fails with where to put the CA", async () => {
      const { code, report } = await onBuilder(storeWithout, [
        "hub.wharf.test",
        "docker.io",
        "registry-1.docker.io",
      ]);
      expect(code).toBe(1);
      expect(failing(report)).toEqual(["tls mirror.wharf.test", "tls docker.io", "tls registry-1.docker.io"]);
      expect(check(report, "tls mirror.wharf.test")?.fix).toBe(
        "on the builder: get wharf's CA with `wharf ca export --out wharf-ca.crt` on wharf's host and copy it to /etc/docker/certs.d/mirror.wharf.test/ca.crt",
      );
    });
  });

  test("a dead upstream fails its check with a fix line, in human output too", async () => {
    const deadPort = await freePort(upstreamIp);
    const reg = (config.registries as Record<string, Record<string, unknown>>)["hub.wharf.test"];
    const dead = {
      ...config,
      registries: { "hub.wharf.test": { ...reg, upstream: `https://upstream.wharf.test:${deadPort}` } },
    };
    const json = await doctor(dead, "--json", ...trusted());
    expect(json.code).toBe(1);
    expect(failing(json.report)).toEqual(["upstream hub.wharf.test"]);
    expect(check(json.report, "upstream hub.wharf.test")?.detail).toContain("ECONNREFUSED");
    const human = await doctor(dead, ...trusted());
    expect(human.code).toBe(1);
    expect(human.stdout).toContain(`✗ upstream hub.wharf.test: https://upstream.wharf.test:${deadPort}`);
    expect(human.stdout).toMatch(/\n {4}fix: check that https:\/\/upstream\.wharf\.test:\d+ is reachable/);
    expect(human.stdout).toContain("✓ listen.dns");
    expect(human.stdout).toContain("1 problem found.");
  });

  test("listeners that are down, and an invalid config, exit 1", async () => {
    const listen = config.listen as Record<string, string>;
    const down = { ...config, listen: { ...listen, admin: `${wharfIp}:${await freePort(wharfIp)}` } };
    const r = await doctor(down, "--json", ...trusted());
    expect(r.code).toBe(1);
    expect(failing(r.report)).toEqual(["listen.admin"]);
    const invalid = await doctor({ ...config, listen: { ...listen, http: "nowhere" } }, "--json");
    expect(invalid.code).toBe(1);
    expect(invalid.report.checks).toHaveLength(1);
    expect(invalid.report.checks[0]).toMatchObject({ name: "config", ok: false });
    expect(invalid.report.checks[0]?.detail).toContain("listen.http");
  });
});
