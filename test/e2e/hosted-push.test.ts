// Issue 14, "Done when", with real programs: a dockerd in one network namespace logs in to the
// hosted registry through wharf's TLS gateway, builds with BuildKit `FROM busybox` (a Docker Hub
// name, resolved through wharf's DNS and filled from the "Docker Hub" upstream) and pushes; the
// busybox layer is not uploaded again (a mount, or a HEAD that finds it: one copy on disk). A
// dockerd in a second namespace pulls and runs the image. skopeo copies the multi-platform test
// index in and back out unchanged (by the registry's own name over TLS, and by path prefix on
// the plain-HTTP listener); ctr pulls it with a hosts.toml.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildkitBuild,
  ctrIn,
  dockerLogin,
  dockerPush,
  repoDigest,
  writeHostsDir,
} from "../support/builder-steps.ts";
import type { Dockerd } from "../support/dockerd.ts";
import { CREDS, HOSTED, USER, writeHtpasswd } from "../support/hosted-wharf.ts";
import { imageLayout, readBlob, readManifestDigests } from "../support/images.ts";
import { type InterceptionWorld, startInterceptionWorld } from "../support/interception-topology.ts";
import { runCommand } from "../support/run-command.ts";
import { netnsPath } from "../support/sandbox.ts";
import { inspectRaw, pushLayout, runSkopeo } from "../support/skopeo.ts";
import { makeTempDir, type TempDir } from "../support/temp-dir.ts";

const APP = `${HOSTED}/team/app:1`;
const MULTI = `${HOSTED}/library/multi:1`;
const busybox = readManifestDigests("busybox");
const multi = readManifestDigests("multi");

let tmp: TempDir;
let w: InterceptionWorld;
let b1: Dockerd;
let b2: Dockerd;

beforeAll(async () => {
  tmp = await makeTempDir("wharf-hosted-push-");
  const htpasswd = join(tmp.path, "htpasswd");
  await writeHtpasswd(htpasswd, { [USER.name]: USER.password });
  w = await startInterceptionWorld({
    prefix: "whp",
    hosts: ["b1", "b2"],
    dns: true,
    dnsAllow: ["b1", "b2"],
    images: { hub: { "library/busybox:latest": "busybox" }, ghcr: {}, gitlab: {} },
    extraRegistries: { [HOSTED]: { hosted: {} } },
    extraConfig: { access: { htpasswd } },
  });
  const viaWharf = { nameservers: [w.ip.gw] };
  b1 = await w.startBuilder("b1", viaWharf);
  b2 = await w.startBuilder("b2", viaWharf);
}, 120_000);

afterAll(async () => {
  await w?.stop();
  await tmp?.remove();
});

/** skopeo in builder b1's namespace, resolving through wharf's DNS, trusting wharf's CA. */
const viaB1 = () => ({ certDir: w.client.dir, netns: w.topo.nsName("b1"), nameserver: w.ip.gw });

describe("a hosted registry with real clients", () => {
  it("is one of wharf's intercepted names (certificates and DNS answers)", () => {
    expect(w.interceptedNames).toContain(HOSTED);
  });

  it("docker login, BuildKit build FROM busybox, push: the base layer is not uploaded; a second dockerd pulls and runs it", async () => {
    const wrong = await dockerLogin(b1, HOSTED, USER.name, "wrong-password");
    expect(wrong.code).not.toBe(0);
    expect(`${wrong.stdout}${wrong.stderr}`).toMatch(/unauthorized|401/i);
    const login = await dockerLogin(b1, HOSTED, USER.name, USER.password);
    expect(login.code, login.stderr).toBe(0);
    expect(login.stdout).toMatch(/Login Succeeded/);

    const dockerfile = "FROM busybox\nCOPY hosted.txt /hosted.txt\n";
    await buildkitBuild(b1, APP, dockerfile, { "hosted.txt": "built once, pulled everywhere\n" });
    const hubBlobs = w.hub.count((r) => r.method === "GET" && r.path.includes(`/blobs/${busybox.layers[0]}`));
    expect(hubBlobs).toBe(1); // BuildKit resolved busybox through wharf, which filled it

    const before = w.wharfRequests().length;
    const pushed = await dockerPush(b1, APP);
    const seen = w.wharfRequests().slice(before);
    const hosted = seen.filter((r) => r.registry === HOSTED);
    expect(hosted.length).toBeGreaterThan(0);
    // the base layer: mounted (POST ?mount= answered 201) or found by HEAD (200), never uploaded
    const base = busybox.layers[0] as string;
    const found = hosted.filter(
      (r) =>
        (r.method === "HEAD" && r.kind === "blob" && r.reference === base && r.status === 200) ||
        (r.method === "POST" && r.kind === "upload" && r.status === 201 && r.outcome === "hit"),
    );
    expect(found.length, JSON.stringify(hosted, null, 1)).toBeGreaterThan(0);
    const uploaded = hosted
      .filter((r) => r.kind === "upload" && (r.method === "PATCH" || r.method === "PUT"))
      .reduce((sum, r) => sum + (r.bytes ?? 0), 0);
    const baseSize = busybox.layerSizes[0] as number;
    expect(uploaded).toBeLessThan(baseSize);
    // and Docker Hub's stand-in saw nothing new: the bytes came from wharf's store
    expect(w.hub.count((r) => r.method === "GET" && r.path.includes(`/blobs/${base}`))).toBe(1);
    const finished = hosted.filter((r) => r.kind === "upload" && r.method === "PUT" && r.status === 201);
    expect(finished.length).toBe(2); // the new layer and the config
    const manifestPut = hosted.filter((r) => r.kind === "manifest" && r.method === "PUT");
    expect(manifestPut.map((r) => r.status)).toEqual([201]);

    await b2.docker(["pull", "-q", APP], { timeoutMs: 120_000 });
    const run = await b2.docker(["run", "--rm", APP, "cat", "/hosted.txt"]);
    expect(run.stdout).toBe("built once, pulled everywhere\n");
    expect(await repoDigest(b2, APP)).toBe(pushed);
    expect(await repoDigest(b1, APP)).toBe(pushed);
    const pulled = w
      .wharfRequests()
      .filter((r) => r.registry === HOSTED && r.method === "GET" && r.kind === "manifest");
    expect(pulled.some((r) => r.status === 200)).toBe(true);
  });

  it("skopeo copies the multi-platform index in and back out unchanged; by path prefix too", async () => {
    await pushLayout("multi", MULTI, { ...viaB1(), creds: CREDS });
    expect(await inspectRaw(MULTI, viaB1())).toBe(readBlob(multi.manifest).toString("utf8"));
    for (const child of multi.manifests)
      expect(await inspectRaw(`${HOSTED}/library/multi@${child.manifest}`, viaB1())).toBe(
        readBlob(child.manifest).toString("utf8"),
      );
    const out = join(tmp.path, "out");
    await runSkopeo(
      [
        "copy",
        "--all",
        "--preserve-digests",
        "--src-cert-dir",
        w.client.dir,
        `docker://${MULTI}`,
        `oci:${out}:multi`,
      ],
      { netns: w.topo.nsName("b1"), nameserver: w.ip.gw },
    );
    const index = JSON.parse(await readFile(join(out, "index.json"), "utf8")) as {
      manifests: { digest: string }[];
    };
    expect(index.manifests.map((m) => m.digest)).toEqual([multi.manifest]);
    for (const child of multi.manifests)
      for (const d of [child.manifest, child.config, ...child.layers])
        expect((await readFile(join(out, "blobs", "sha256", d.slice(7)))).equals(readBlob(d)), d).toBe(true);

    // the plain-HTTP listener: /v2/registry.internal/library/multi/… (anonymous pull)
    const prefixed = `${w.ip.gw}:5000/${HOSTED}/library/multi:1`;
    const raw = await runSkopeo(["inspect", "--raw", "--tls-verify=false", `docker://${prefixed}`], {
      netns: w.topo.nsName("b1"),
      nameserver: w.ip.gw,
    });
    expect(raw.stdout).toBe(readBlob(multi.manifest).toString("utf8"));
  });

  it("a blob wharf holds is linked into a hosted repository for a pusher only: anonymous HEADs get 404", async () => {
    const base = busybox.layers[0] as string;
    const url = `http://${w.ip.gw}:5000/v2/${HOSTED}/elsewhere/app/blobs/${base}`;
    const head = async (creds?: string) => {
      const r = await runCommand(
        [
          "nsenter",
          `--net=${netnsPath(w.topo.nsName("b1"))}`,
          "curl",
          "-s",
          "-I",
          "-o",
          "/dev/null",
          "-w",
          "%{http_code}",
          ...(creds ? ["-u", creds] : []),
          url,
        ],
        { allowFailure: true },
      );
      return r.stdout.trim();
    };
    expect(await head()).toBe("404");
    // wrong credentials are refused as such (401), never an open door
    expect(await head(`${USER.name}:not-the-password`)).toBe("401");
    expect(await head(CREDS)).toBe("200");
    // linked now: anonymous pulls of that repository see it, as after a push
    expect(await head()).toBe("200");
  });

  it("skopeo pushes by path prefix on the plain-HTTP listener (upload Location keeps the prefix)", async () => {
    const dest = `${w.ip.gw}:5000/${HOSTED}/prefix/bb:1`;
    await runSkopeo(
      [
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        CREDS,
        `oci:${imageLayout()}:busybox`,
        `docker://${dest}`,
      ],
      { netns: w.topo.nsName("b1"), nameserver: w.ip.gw },
    );
    expect(await inspectRaw(`${HOSTED}/prefix/bb:1`, viaB1())).toBe(
      readBlob(busybox.manifest).toString("utf8"),
    );
    const uploads = w.wharfRequests().filter((r) => r.registry === HOSTED && r.repository === "prefix/bb");
    expect(uploads.some((r) => r.kind === "manifest" && r.method === "PUT" && r.status === 201)).toBe(true);
  });

  it("ctr pulls the index with a hosts.toml (TLS, wharf's CA)", async () => {
    const hostsDir = await writeHostsDir(join(tmp.path, "hosts.d"), HOSTED, w.client.wharfCa);
    await ctrIn(w.topo, "b2", b2, w.ip.gw, [
      "images",
      "pull",
      "--hosts-dir",
      hostsDir,
      "--all-platforms",
      MULTI,
    ]);
    const ls = await ctrIn(w.topo, "b2", b2, w.ip.gw, ["images", "ls"]);
    const line = ls.stdout.split("\n").find((l) => l.startsWith(`${MULTI} `)) ?? "";
    expect(line).toContain(multi.manifest);
    const check = await ctrIn(w.topo, "b2", b2, w.ip.gw, ["images", "check"]);
    const checked = check.stdout.split("\n").find((l) => l.startsWith(`${MULTI} `)) ?? "";
    expect(checked).toMatch(new RegExp(`${multi.manifest}\\s+complete \\((\\d+)/\\1\\)`));
  });
});
