import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { loadConfig } from "../gateway/config/load-config.ts";
import {
  dockerCompose as composeCli,
  ensureDockerCompose,
  run,
  userCopy,
} from "./compose-cli.test-support.ts";
import { ALIAS_FILES, aliasesIn, COMPOSE_DIR, interceptedNames, loadNamesConfig } from "./sync-aliases.ts";

const REPO = path.dirname(COMPOSE_DIR);
const COMPOSE_FILES = ["network-alias/compose.yml", "dns-mode/compose.yml", "swarm/stack.yml"];
const TOKEN_PATH = "/run/secrets/gitlab_registry_token";

type Service = {
  dns?: string[];
  secrets?: (string | { source: string })[];
  volumes?: string[];
  networks?: Record<string, { ipv4_address?: string; aliases?: string[] } | null> | string[];
};
type ComposeDoc = {
  services: Record<string, Service>;
  networks?: Record<string, { ipam?: { config?: { subnet: string }[] } } | null>;
  secrets?: Record<string, { file: string }>;
};

const text = (rel: string) => readFile(path.join(COMPOSE_DIR, rel), "utf8");
const compose = async (rel: string) => parse(await text(rel), { version: "1.1" }) as ComposeDoc;
const secretNames = (s: Service) => (s.secrets ?? []).map((x) => (typeof x === "string" ? x : x.source));

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "wharf-compose-"));
});
afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe("alias lists", () => {
  it("sync-aliases --check passes: every alias list equals compose/wharf.yml's intercepted names", () => {
    const r = run(process.execPath, [path.join(COMPOSE_DIR, "sync-aliases.ts"), "--check"]);
    expect(r.out).toBe("");
    expect(r.status).toBe(0);
  });

  it("lists every registry name and alias of compose/wharf.yml, and nothing in dns-mode", async () => {
    const names = interceptedNames(loadNamesConfig(path.join(COMPOSE_DIR, "wharf.yml")));
    expect(names).toEqual(
      expect.arrayContaining(["docker.io", "registry-1.docker.io", "ghcr.io", "registry.gitlab.com"]),
    );
    for (const file of ALIAS_FILES) expect(aliasesIn(await text(file)), file).toEqual(names);
    expect(aliasesIn(await text("dns-mode/compose.yml"))).toBeUndefined();
  });

  it("--check fails on a drifted copy and the rewrite repairs it", async () => {
    const dir = path.join(tmp, "drift");
    await cp(COMPOSE_DIR, dir, { recursive: true });
    const stack = path.join(dir, "swarm/stack.yml");
    await writeFile(stack, (await readFile(stack, "utf8")).replace("- ghcr.io\n", "- quay.io\n"));
    const script = path.join(COMPOSE_DIR, "sync-aliases.ts");
    const check = run(process.execPath, [script, "--check", "--dir", dir]);
    expect(check.status).toBe(1);
    expect(check.out).toContain("missing: ghcr.io; extra: quay.io");
    expect(run(process.execPath, [script, "--dir", dir]).status).toBe(0);
    expect(await readFile(stack, "utf8")).toBe(await text("swarm/stack.yml"));
  });
});

describe("shipped wharf configs", () => {
  async function load(rel: string) {
    const token = path.join(tmp, "gitlab_registry_token");
    await writeFile(token, "glpat-test-token\n");
    const source = await text(rel);
    expect(source).toContain(TOKEN_PATH);
    const copy = path.join(tmp, rel.replaceAll("/", "-"));
    await writeFile(copy, source.replaceAll(TOKEN_PATH, token));
    return loadConfig(copy, {});
  }

  it("compose/wharf.yml loads with wharf's loadConfig", async () => {
    const { config, credentials } = await load("wharf.yml");
    expect(config.dataDir).toBe("/var/lib/wharf");
    expect(config.listen.admin).toEqual({ host: "127.0.0.1", port: 9090 });
    expect(config.listen.https?.port).toBe(443);
    expect(config.listen.dns?.port).toBe(53);
    expect(credentials.get("registry.gitlab.com")?.password.reveal()).toBe("glpat-test-token");
  });

  it("swarm/wharf.yml is compose/wharf.yml plus the CA secrets of stack.yml", async () => {
    const { config } = await load("swarm/wharf.yml");
    const shared = parse(await text("wharf.yml")) as Record<string, unknown>;
    const { tls, ...rest } = parse(await text("swarm/wharf.yml")) as Record<string, unknown>;
    expect(rest).toEqual(shared);
    expect(tls).toEqual({ caCertFile: "/run/secrets/wharf_ca_crt", caKeyFile: "/run/secrets/wharf_ca_key" });
    const wharf = (await compose("swarm/stack.yml")).services.wharf;
    expect(secretNames(wharf!)).toEqual(expect.arrayContaining(["wharf_ca_crt", "wharf_ca_key"]));
    expect(config.tls.caCertFile).toBe("/run/secrets/wharf_ca_crt");
  });
});

describe("swarm hosted registry (the registry service)", () => {
  it("swarm/registry.yml loads; the service mounts its secrets, answers to its names, runs once", async () => {
    const { config } = loadConfig(path.join(COMPOSE_DIR, "swarm/registry.yml"), {});
    const hosted = Object.entries(config.registries).filter(([, r]) => r.hosted !== undefined);
    expect(hosted.map(([name]) => name)).toEqual(Object.keys(config.registries));
    expect(hosted.length).toBeGreaterThan(0);
    const shared = loadNamesConfig(path.join(COMPOSE_DIR, "swarm/wharf.yml"));
    expect(config.tls).toMatchObject({ caCertFile: shared.tls.caCertFile, caKeyFile: shared.tls.caKeyFile });
    expect(config.access?.htpasswd).toBe("/run/secrets/wharf_htpasswd");
    const doc = await compose("swarm/stack.yml");
    const registry = doc.services.registry as Service & {
      deploy?: { mode?: string; replicas?: number };
      volumes?: string[];
    };
    expect(secretNames(registry)).toEqual(
      expect.arrayContaining(["wharf_ca_crt", "wharf_ca_key", "wharf_htpasswd"]),
    );
    const nets = registry.networks as Record<string, { aliases?: string[] }>;
    expect(nets.builders?.aliases).toEqual(interceptedNames(config));
    expect(registry.deploy).toMatchObject({ mode: "replicated", replicas: 1 });
    // its own volume: the wharf service's replicas each keep their own
    const wharfVolumes = doc.services.wharf?.volumes ?? [];
    for (const v of registry.volumes ?? []) expect(wharfVolumes).not.toContain(v);
    // the hosted names are not the wharf service's (it would answer them with an empty registry)
    for (const name of interceptedNames(config))
      expect(aliasesIn(await text("swarm/stack.yml"))).not.toContain(name);
  });
});

describe("compose files agree with the config", () => {
  it("wharf resolves upstreams through upstreamDns; config loaders get the token secret", async () => {
    const config = loadNamesConfig(path.join(COMPOSE_DIR, "wharf.yml"));
    for (const file of COMPOSE_FILES) {
      const doc = await compose(file);
      expect(doc.services.wharf?.dns, file).toEqual([config.upstreamDns.host]);
      for (const name of ["wharf", "wharf-client-config"]) {
        const service = doc.services[name];
        if (service) expect(secretNames(service), `${file} ${name}`).toContain("gitlab_registry_token");
      }
      expect(doc.secrets?.gitlab_registry_token?.file, file).toMatch(/^\.\/secrets\//);
    }
  });

  it("dns-mode: dns.answer is wharf's fixed address, the builders' first resolver, in the subnet", async () => {
    const config = loadNamesConfig(path.join(COMPOSE_DIR, "wharf.yml"));
    const doc = await compose("dns-mode/compose.yml");
    const nets = doc.services.wharf?.networks as Record<string, { ipv4_address?: string }>;
    const address = nets.builders?.ipv4_address ?? "";
    expect(config.dns.answer).toEqual([address]);
    expect(doc.services.dind?.dns?.[0]).toBe(address);
    const subnet = doc.networks?.builders?.ipam?.config?.[0]?.subnet ?? "";
    expect(address.startsWith(subnet.replace(/0\/24$/, ""))).toBe(true);
  });

  it("the Dockerfile ships the runtime folders and probes the configured admin listener", async () => {
    const dockerfile = await readFile(path.join(REPO, "Dockerfile"), "utf8");
    const ignore = (await readFile(path.join(REPO, ".dockerignore"), "utf8")).split("\n");
    for (const dir of ["bin", "common", "certs", "dns", "gateway"]) {
      expect(dockerfile).toContain(`COPY ${dir} ./${dir}\n`);
      expect(ignore).toContain(`!${dir}/`);
    }
    const { admin } = loadNamesConfig(path.join(COMPOSE_DIR, "wharf.yml")).listen;
    expect(dockerfile).toContain(`http://${admin?.host}:${admin?.port}/healthz`);
    expect(await text("swarm/stack.yml")).toContain(`http://${admin?.host}:${admin?.port}/healthz`);
    expect(dockerfile).toContain('VOLUME ["/var/lib/wharf"]');
  });
});

describe("docker-compose config (Debian's compose implementation)", () => {
  beforeAll(ensureDockerCompose);

  // A copy with every declared secret file and .env present, as a user would have it.
  const prepare = async (name: string) => path.dirname(await userCopy(path.join(tmp, name), COMPOSE_FILES));

  const dockerCompose = (cwd: string, file: string, args: string[]) =>
    composeCli(tmp, cwd, path.basename(file), args);

  it.each(COMPOSE_FILES)("%s is valid and resolves to the expected aliases", async (file) => {
    const root = await prepare(`valid-${path.dirname(file)}`);
    const cwd = path.join(root, "compose", path.dirname(file));
    const quiet = dockerCompose(cwd, file, ["config", "-q"]);
    expect(quiet.out).not.toMatch(/invalid|error/i);
    expect(quiet.status).toBe(0);
    const rendered = dockerCompose(cwd, file, ["config"]);
    expect(rendered.status).toBe(0);
    const doc = parse(rendered.stdout) as ComposeDoc;
    expect(doc.services.wharf).toBeDefined();
    const nets = doc.services.wharf?.networks as Record<string, { aliases?: string[] } | null>;
    expect(nets.builders?.aliases).toEqual(aliasesIn(await text(file)));
  });

  it("rejects a broken file (the check can fail)", async () => {
    const root = await prepare("broken");
    const cwd = path.join(root, "compose", "network-alias");
    const file = path.join(cwd, "compose.yml");
    await writeFile(
      file,
      (await readFile(file, "utf8")).replace("    init: true\n", "    init: true\n    bogus: 1\n"),
    );
    const r = dockerCompose(cwd, "compose.yml", ["config", "-q"]);
    expect(r.status).not.toBe(0);
    expect(r.out).toContain("bogus");
  });
});
