// Issue 16, "Done when" 1 and 2, with real programs: GitLab's stand-in (docker-registry behind a
// token server) holds two private repositories, one per user, and a public one; wharf serves it
// with `access: upstream`. Two dockerd builders, each logged in (through interception) as one
// user: A pulls its image; B is refused for it before and after (the cached bytes never reach B),
// B's own image works, both pull the public one, an anonymous skopeo gets only the public one;
// the upstream sees the authorization checks and no blob downloads for a second pull. B asks for
// a layer of A's image by digest under its own and the public repository: BLOB_UNKNOWN. No
// password or token appears in wharf's logs, /metrics, /api/status or an error body.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dockerLogin } from "../support/builder-steps.ts";
import type { Dockerd } from "../support/dockerd.ts";
import { readManifestDigests } from "../support/images.ts";
import { type InterceptionWorld, startInterceptionWorld } from "../support/interception-topology.ts";
import { leakedSecrets } from "../support/secret-scan.ts";
import { runSkopeo } from "../support/skopeo.ts";

const GITLAB = "registry.gitlab.com";
const A_IMAGE = `${GITLAB}/group/a/app:1`;
const B_IMAGE = `${GITLAB}/group/b/app:1`;
const PUBLIC = `${GITLAB}/group/public/app:1`;
const ALICE = { user: "alice", password: "alice-Secret-4711" };
const BOB = { user: "bob", password: "bob-Secret-0815" };
const FILL = { user: "wharf-fill", password: "fill-Secret-2024" };
const multi = readManifestDigests("multi");
const amd64 = multi.manifests.find((m) => m.platform === "linux/amd64");
// in A's image only: the amd64 platform layer (the others are busybox's, in every image here)
const A_ONLY = amd64?.layers[2] as string;

let w: InterceptionWorld;
let a: Dockerd;
let b: Dockerd;
/** Every error body and client output seen, searched for secrets at the end. */
const seen: Record<string, string> = {};

beforeAll(async () => {
  w = await startInterceptionWorld({
    prefix: "wau",
    hosts: ["ba", "bb", "anon"],
    dns: true,
    dnsAllow: ["ba", "bb", "anon"],
    admin: true,
    images: {
      hub: {},
      ghcr: {},
      gitlab: { "group/a/app:1": "multi", "group/b/app:1": "busybox", "group/public/app:1": "busybox" },
    },
    tokenAuth: ["gitlab"],
    tokenGrants: {
      users: { [ALICE.user]: ALICE.password, [BOB.user]: BOB.password, [FILL.user]: FILL.password },
      services: [GITLAB],
      grants: [
        { repository: "group/a/app", users: [ALICE.user, FILL.user], actions: ["pull"] },
        { repository: "group/b/app", users: [BOB.user, FILL.user], actions: ["pull"] },
        { repository: "group/public/app", users: ["*"], actions: ["pull"] },
      ],
    },
    extraRegistries: {
      [GITLAB]: {
        upstream: `https://${GITLAB}`,
        access: "upstream",
        auth: { username: FILL.user, password: FILL.password },
      },
    },
    extraConfig: { access: { upstreamDecisionTtl: "60s" } },
  });
  a = await w.startBuilder("ba", { nameservers: [w.ip.gw] });
  b = await w.startBuilder("bb", { nameservers: [w.ip.gw] });
}, 120_000);

afterAll(async () => {
  await w?.stop();
});

async function pull(d: Dockerd, ref: string) {
  const r = await d.docker(["pull", "-q", ref], { allowFailure: true, timeoutMs: 120_000 });
  seen[`docker pull ${ref} ${d.dir}`] = `${r.stdout}\n${r.stderr}`;
  return r;
}

/** curl in a namespace against wharf's TLS gateway under GitLab's name: status and body. */
async function curlGitlab(
  ns: string,
  path: string,
  login?: { user: string; password: string },
  headers: string[] = [],
) {
  const args = ["curl", "-s", "-w", "\n%{http_code}", "--cacert", w.client.wharfCa];
  for (const h of headers) args.push("-H", h);
  args.push("--resolve", `${GITLAB}:443:${w.ip.gw}`);
  if (login) args.push("-u", `${login.user}:${login.password}`);
  const r = await w.topo.run(ns, [...args, `https://${GITLAB}${path}`], { allowFailure: true });
  const lines = r.stdout.split("\n");
  const status = Number(lines.pop());
  const body = lines.join("\n");
  // error bodies only: a token response carries the token
  if (status >= 400) seen[`curl ${ns} ${path}`] = body;
  return { status, body };
}

/** wharf's request lines for clients at `ip` (the access note carries the address). */
function requestsFrom(ip: string) {
  return w.wharf
    .logs()
    .stdout.split("\n")
    .filter((l) => l.includes('"msg":"request"'))
    .map((l) => JSON.parse(l) as { repository?: string; status: number; access?: { address?: string } })
    .filter((q) => q.access?.address?.endsWith(ip));
}

/** What the upstream saw that was not a blob: wharf's authorization checks (tags list, manifest HEAD). */
const authChecks = (repo: string, since: number) =>
  w.gitlab
    .requests(since)
    .filter(
      (r) =>
        r.path.startsWith(`/v2/${repo}/tags/list`) ||
        (r.method === "HEAD" && r.path.startsWith(`/v2/${repo}/manifests/`)),
    );

const gitlabBlobGets = (since: number) =>
  w.gitlab.count((r) => r.method === "GET" && r.path.includes("/blobs/") && r.status === 200, since);

describe("access: upstream with two builders", () => {
  it("docker login through interception checks the password at the upstream", async () => {
    const wrong = await dockerLogin(a, GITLAB, ALICE.user, "not-alice-s-password");
    seen["login wrong"] = `${wrong.stdout}\n${wrong.stderr}`;
    expect(wrong.code).not.toBe(0);
    expect(`${wrong.stdout}${wrong.stderr}`).toMatch(/unauthorized|401|authentication/i);
    for (const [d, who] of [
      [a, ALICE],
      [b, BOB],
    ] as const) {
      const ok = await dockerLogin(d, GITLAB, who.user, who.password);
      expect(ok.code, ok.stderr).toBe(0);
      expect(ok.stdout).toMatch(/Login Succeeded/);
    }
  });

  it("B is refused A's image before A pulled it", async () => {
    const m = w.gitlab.mark();
    const r = await pull(b, A_IMAGE);
    // wharf asked the upstream with B's login (a tags list or a manifest HEAD), which refused it
    expect(authChecks("group/a/app", m).map((q) => q.status)).toContain(401);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/denied|unauthorized|not found|forbidden|401|403|404/i);
  });

  it("A pulls its image; B is still refused, though wharf has the bytes", async () => {
    const m = w.gitlab.mark();
    expect((await pull(a, A_IMAGE)).code).toBe(0);
    expect(gitlabBlobGets(m)).toBeGreaterThan(0);
    const run = await a.docker(["run", "--rm", A_IMAGE, "cat", "/platform"]);
    expect(run.stdout).toBe("linux/amd64\n");
    const m2 = w.gitlab.mark();
    const r = await pull(b, A_IMAGE);
    expect(r.code).not.toBe(0);
    expect((await b.docker(["images", "-q", A_IMAGE])).stdout.trim()).toBe("");
    // refused from the cached decision (or asked again), never served from the cache
    expect(gitlabBlobGets(m2)).toBe(0);
    const toB = requestsFrom(w.topo.hosts.bb?.ip as string).filter((q) => q.repository === "group/a/app");
    expect(toB.length).toBeGreaterThan(0);
    expect(toB.filter((q) => q.status < 300)).toEqual([]);
    const served = w.wharfRequests().filter((q) => q.reference === A_ONLY && q.status === 200);
    expect(served.length).toBe(1); // A's one download
  });

  it("B's own image works; both pull the public image, the second without blob downloads upstream", async () => {
    expect((await pull(b, B_IMAGE)).code).toBe(0);
    expect((await pull(a, PUBLIC)).code).toBe(0);
    const m = w.gitlab.mark();
    expect((await pull(b, PUBLIC)).code).toBe(0);
    const after = w.gitlab.requests(m);
    expect(gitlabBlobGets(m)).toBe(0);
    // the authorization check for B with B's login, answered 200
    expect(authChecks("group/public/app", m).map((q) => q.status)).toContain(200);
    expect(after.length).toBeGreaterThan(0);
    // and A's refusal for B's image
    const r = await pull(a, B_IMAGE);
    expect(r.code).not.toBe(0);
  });

  it("A's second pull of its image downloads no blob upstream", async () => {
    await a.docker(["rmi", A_IMAGE]);
    const m = w.gitlab.mark();
    expect((await pull(a, A_IMAGE)).code).toBe(0);
    expect(gitlabBlobGets(m)).toBe(0);
  });

  it("an anonymous skopeo gets the public image only", async () => {
    const inspect = (ref: string) =>
      runSkopeo(["inspect", "--raw", "--cert-dir", w.client.dir, `docker://${ref}`], {
        netns: w.topo.nsName("anon"),
        nameserver: w.ip.gw,
        allowFailure: true,
      });
    const pub = await inspect(PUBLIC);
    expect(pub.code, pub.stderr).toBe(0);
    for (const ref of [A_IMAGE, B_IMAGE]) {
      const r = await inspect(ref);
      seen[`skopeo ${ref}`] = `${r.stdout}\n${r.stderr}`;
      expect(r.code, ref).not.toBe(0);
    }
  });

  it("a layer of A's image by digest under B's or the public repository is BLOB_UNKNOWN", async () => {
    for (const repo of ["group/b/app", "group/public/app"]) {
      for (let i = 0; i < 2; i++) {
        const r = await curlGitlab("bb", `/v2/${repo}/blobs/${A_ONLY}`, BOB);
        expect(r.status, repo).toBe(404);
        expect(JSON.parse(r.body).errors[0].code).toBe("BLOB_UNKNOWN");
      }
    }
    // and under A's repository B's login is refused by the upstream
    const own = await curlGitlab("bb", `/v2/group/a/app/blobs/${A_ONLY}`, BOB);
    expect([401, 403, 404]).toContain(own.status);
    expect(own.body).not.toContain("linux/amd64");
    // A's login reads it
    expect((await curlGitlab("ba", `/v2/group/a/app/blobs/${A_ONLY}`, ALICE)).status).toBe(200);
  });

  it("Basic credentials on each request (containerd hosts.toml headers) are checked with the reference asked for", async () => {
    const oci = "accept: application/vnd.oci.image.manifest.v1+json";
    const get = (ns: string, repo: string, login?: { user: string; password: string }) =>
      curlGitlab(ns, `/v2/${repo}/manifests/1`, login, [oci]);
    expect((await get("bb", "group/b/app", BOB)).status).toBe(200);
    expect((await get("anon", "group/public/app")).status).toBe(200);
    expect((await get("bb", "group/a/app", BOB)).status).not.toBe(200);
    expect((await get("ba", "group/b/app", { user: ALICE.user, password: "wrong-alice-pw" })).status).toBe(
      401,
    );
  });

  it("wharf's logs, /metrics, /api/status and the error bodies hold no password or token", async () => {
    const admin = (path: string) =>
      w.topo.run("ba", ["curl", "-s", `http://${w.ip.gw}:9090${path}`], { allowFailure: true });
    const metrics = (await admin("/metrics")).stdout;
    const status = (await admin("/api/status")).stdout;
    expect(metrics).toMatch(/wharf_access_denied_total\{[^}]*registry="registry.gitlab.com"/);
    expect(status).toContain("accessDenials");
    const logs = w.wharf.logs();
    const places = { ...seen, stdout: logs.stdout, stderr: logs.stderr, metrics, status };
    expect(
      leakedSecrets(
        places,
        [],
        [
          ALICE,
          BOB,
          FILL,
          { user: ALICE.user, password: "not-alice-s-password" },
          { user: ALICE.user, password: "wrong-alice-pw" },
        ],
      ),
    ).toEqual([]);
    // dockerd's stored logins are the clients' own business; wharf's tokens never reach its log
    const tokens = [...logs.stdout.matchAll(/"token":"([^"]+)"/g)].map((m) => m[1]);
    expect(tokens).toEqual([]);
  });
});
