import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { loadConfig } from "../gateway/config/load-config.ts";
import { dockerCompose, ensureDockerCompose, userCopy } from "./compose-cli.test-support.ts";
import { COMPOSE_DIR, interceptedNames, loadNamesConfig } from "./sync-aliases.ts";

type Service = {
  hostname?: string;
  secrets?: (string | { source: string })[];
  volumes?: (string | { source?: string; target?: string })[];
  networks?: Record<string, { aliases?: string[] } | null> | string[];
  deploy?: { replicas?: number; placement?: { max_replicas_per_node?: number } };
};
type ComposeDoc = { services: Record<string, Service>; secrets?: Record<string, { file: string }> };

const REPLICAS = path.join(COMPOSE_DIR, "replicas");
const FILES = ["compose.yml", "stack.yml"];
const text = (rel: string) => readFile(path.join(REPLICAS, rel), "utf8");
const secretNames = (s: Service) => (s.secrets ?? []).map((x) => (typeof x === "string" ? x : x.source));
const aliasesOf = (s: Service | undefined) =>
  (s?.networks as Record<string, { aliases?: string[] } | null> | undefined)?.builders?.aliases;
const networksOf = (s: Service | undefined) =>
  Array.isArray(s?.networks) ? s.networks : Object.keys(s?.networks ?? {});

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "wharf-replicas-compose-"));
});
afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe("replicas/wharf.yml", () => {
  it("loads with wharf's loadConfig: s3 storage, PostgreSQL, one CA, every key from a secret", async () => {
    let source = await text("wharf.yml");
    for (const secret of ["s3_access_key", "s3_secret_key", "wharf_db_url", "gitlab_registry_token"]) {
      const file = path.join(tmp, secret);
      await writeFile(file, secret === "wharf_db_url" ? "postgres://wharf:pw@postgres:5432/wharf\n" : "x\n");
      expect(source).toContain(`/run/secrets/${secret}`);
      source = source.replaceAll(`/run/secrets/${secret}`, file);
    }
    const copy = path.join(tmp, "replicas-wharf.yml");
    await writeFile(copy, source);
    const loaded = loadConfig(copy, {});
    expect(loaded.config.storage.kind).toBe("s3");
    expect(loaded.metadataUrl?.reveal()).toBe("postgres://wharf:pw@postgres:5432/wharf");
    expect(loaded.storageCredentials).not.toBeNull();
    expect(loaded.config.tls.caCertFile).toBe("/run/secrets/wharf_ca_crt");
    // each replica answers DNS with (and registers) its own address, not one fixed address
    expect(loaded.config.dns.answer).toEqual([]);
  });

  it("is ../wharf.yml plus tls and storage (and no fixed DNS answer)", async () => {
    const shared = parse(await readFile(path.join(COMPOSE_DIR, "wharf.yml"), "utf8")) as Record<
      string,
      unknown
    >;
    const { tls, storage, dns, ...rest } = parse(await text("wharf.yml")) as Record<string, unknown>;
    const { dns: sharedDns, ...sharedRest } = shared;
    expect(rest).toEqual(sharedRest);
    expect({ ...(dns as object), answer: [] }).toEqual({ ...(sharedDns as object), answer: [] });
    expect(tls).toEqual({ caCertFile: "/run/secrets/wharf_ca_crt", caKeyFile: "/run/secrets/wharf_ca_key" });
    expect(storage).toMatchObject({ kind: "s3", postgres: { urlFile: "/run/secrets/wharf_db_url" } });
  });
});

describe("docker-compose config (Debian's compose implementation)", () => {
  beforeAll(ensureDockerCompose);

  /** A copy of the repository's compose folder with every declared secret file present. */
  const prepare = async (file: string) =>
    path.join(await userCopy(path.join(tmp, file), [`replicas/${file}`]), "replicas");

  const config = (cwd: string, file: string, args: string[]) =>
    dockerCompose(tmp, cwd, file, ["config", ...args]);

  const names = () => interceptedNames(loadNamesConfig(path.join(COMPOSE_DIR, "wharf.yml")));

  it.each(FILES)("replicas/%s is valid; the secrets it names are the config's", async (file) => {
    const cwd = await prepare(file);
    const quiet = config(cwd, file, ["-q"]);
    expect(quiet.out).not.toMatch(/invalid|error/i);
    expect(quiet.status).toBe(0);
    const doc = parse(await text(file)) as ComposeDoc;
    for (const s of Object.values(doc.secrets ?? {})) expect(s.file).toMatch(/^\.\/secrets\//);
    const wharfYml = await text("wharf.yml");
    const used = [...wharfYml.matchAll(/\/run\/secrets\/(\w+)/g)].map((m) => m[1]);
    const rendered = parse(config(cwd, file, []).stdout) as ComposeDoc;
    const replicas = Object.entries(rendered.services).filter(([n]) => /^wharf(-\d)?$/.test(n));
    expect(replicas.length).toBeGreaterThan(0);
    for (const [name, s] of replicas) {
      expect(secretNames(s).sort(), name).toEqual([...new Set(used)].sort());
      expect(networksOf(s).sort(), name).toEqual(["backend", "builders"]);
    }
    // the database is on the backend network only: builders run untrusted jobs
    expect(networksOf(rendered.services.postgres)).toEqual(["backend"]);
  });

  it("compose.yml: three replicas with the same aliases, each its own hostname and cache volume", async () => {
    const cwd = await prepare("compose.yml");
    const r = config(cwd, "compose.yml", []);
    expect(r.status, r.out).toBe(0);
    const doc = parse(r.stdout) as ComposeDoc;
    const replicas = ["wharf-1", "wharf-2", "wharf-3"].map((n) => doc.services[n]);
    const volumes = new Set<string>();
    for (const [i, s] of replicas.entries()) {
      // Docker's embedded DNS answers an alias held by several containers with all their addresses
      expect(aliasesOf(s)).toEqual(names());
      expect(s?.hostname).toBe(`wharf-${i + 1}`);
      // rendered as "source:target:mode" or as { source, target }
      for (const v of s?.volumes ?? []) {
        const [source, target] = typeof v === "string" ? v.split(":") : [v.source, v.target];
        if (target === "/var/lib/wharf") volumes.add(String(source));
      }
    }
    expect(volumes.size, "a dataDir serves one process: a volume per replica").toBe(3);
  });

  it("stack.yml: three tasks, one per node, with the aliases of ../wharf.yml", async () => {
    const doc = parse(await text("stack.yml")) as ComposeDoc;
    const wharf = doc.services.wharf;
    expect(aliasesOf(wharf)).toEqual(names());
    expect(wharf?.deploy?.replicas).toBe(3);
    expect(wharf?.deploy?.placement?.max_replicas_per_node).toBe(1);
    expect(wharf?.hostname).toBe("wharf-{{.Task.Slot}}");
  });
});
