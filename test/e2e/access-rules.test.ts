import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type InterceptionWorld, startInterceptionWorld } from "../support/interception-topology.ts";
import { leakedSecrets } from "../support/secret-scan.ts";
import { runSkopeo } from "../support/skopeo.ts";
import type { TokenGrants } from "../support/token-server.ts";
import { runWharfCli } from "../support/wharf-process.ts";

const GITLAB = "registry.gitlab.com";
const CAROL = { user: "carol", password: "carol-Secret-31415" };
const DAVE = { user: "dave", password: "dave-Secret-27182" };
const FILL = { user: "wharf-fill", password: "fill-Secret-1618" };
const TTL_MS = 3000;
const grants = (carol: boolean): TokenGrants => ({
  users: { [CAROL.user]: CAROL.password, [DAVE.user]: DAVE.password, [FILL.user]: FILL.password },
  services: [GITLAB],
  grants: [
    { repository: "group/c/app", users: [FILL.user, ...(carol ? [CAROL.user] : [])], actions: ["pull"] },
  ],
});

let w: InterceptionWorld;
let robotToken = "";
const wharfTokens: string[] = [];
const seen: Record<string, string> = {};

beforeAll(async () => {
  w = await startInterceptionWorld({
    prefix: "war",
    hosts: ["n1", "n2"],
    dns: true,
    dnsAllow: ["n1", "n2"],
    admin: true,
    images: {
      hub: { "library/alpine:3.20": "busybox" },
      ghcr: { "acme/app:1": "busybox", "other/app:1": "busybox" },
      gitlab: { "group/c/app:1": "busybox" },
    },
    tokenAuth: ["gitlab"],
    tokenGrants: grants(true),
    extraRegistries: {
      [GITLAB]: {
        upstream: `https://${GITLAB}`,
        access: "upstream",
        auth: { username: FILL.user, password: FILL.password },
      },
    },
    extraConfig: (topo) => ({
      access: {
        upstreamDecisionTtl: `${TTL_MS}ms`,
        upstreamStaleWindow: "10m",
        rules: [
          { registry: "ghcr.io", repository: "acme/*", allow: ["pull"], users: ["ci-bot"] },
          { registry: "docker.io", repository: "**", allow: ["pull"], networks: [`${topo.hosts.n1?.ip}/32`] },
        ],
      },
    }),
  });
}, 120_000);

afterAll(async () => {
  await w?.stop();
});

/** `wharf token …` against the running server's configuration file. */
async function wharfCli(args: string[]) {
  return runWharfCli(w.wharf, args);
}

async function inspect(ns: string, ref: string, creds?: string) {
  const args = ["inspect", "--raw", "--cert-dir", w.client.dir];
  if (creds) args.push("--creds", creds);
  const r = await runSkopeo([...args, `docker://${ref}`], {
    netns: w.topo.nsName(ns),
    nameserver: w.ip.gw,
    allowFailure: true,
  });
  seen[`skopeo ${ns} ${ref} ${Object.keys(seen).length}`] = `${r.stdout}\n${r.stderr}`;
  return r;
}

/** curl through the TLS gateway under `host`, from `ns`: status and body. */
async function curl(ns: string, host: string, path: string, headers: string[] = [], user?: string) {
  const args = ["curl", "-s", "-w", "\n%{http_code}", "--cacert", w.client.wharfCa];
  args.push("--resolve", `${host}:443:${w.ip.gw}`);
  for (const h of headers) args.push("-H", h);
  if (user) args.push("-u", user);
  const r = await w.topo.run(ns, [...args, `https://${host}${path}`], { allowFailure: true });
  const lines = r.stdout.split("\n");
  const status = Number(lines.pop());
  const body = lines.join("\n");
  // error bodies only: a token response carries the token
  if (status >= 400) seen[`curl ${ns} ${host}${path} ${Object.keys(seen).length}`] = body;
  return { status, body };
}

describe("access rules against a running wharf", () => {
  it("a robot token with pull on ghcr.io/acme/* pulls there and nowhere else", async () => {
    const created = await wharfCli(["token", "create", "--name", "ci-bot", "--scope", "ghcr.io/acme/*:pull"]);
    expect(created.code, created.stderr).toBe(0);
    robotToken = created.stdout.trim();
    expect(robotToken).toMatch(/^wharf_/);
    const creds = `ci-bot:${robotToken}`;
    expect((await inspect("n1", "ghcr.io/acme/app:1", creds)).code).toBe(0);
    // no rule for ghcr.io/other; docker.io's network rule admits n1, but not beyond the token's scope
    for (const ref of ["ghcr.io/other/app:1", "docker.io/library/alpine:3.20"])
      expect((await inspect("n1", ref, creds)).code, ref).not.toBe(0);
    // wharf has identities now: /v2/ asks for a login, so a wrong one fails `skopeo login`
    const login = (password: string) =>
      runSkopeo(["login", "--cert-dir", w.client.dir, "-u", "ci-bot", "-p", password, "ghcr.io"], {
        netns: w.topo.nsName("n1"),
        nameserver: w.ip.gw,
        allowFailure: true,
      });
    const wrong = await login("wharf_0000000000000000_not-a-token");
    seen["skopeo login wrong"] = `${wrong.stdout}\n${wrong.stderr}`;
    expect(wrong.code).not.toBe(0);
    expect((await login(robotToken)).code).toBe(0);
  });

  it("a revoked robot token is refused at once, also a wharf token issued to it before", async () => {
    const basic = `ci-bot:${robotToken}`;
    const t = await curl(
      "n1",
      "ghcr.io",
      "/auth/token?service=ghcr.io&scope=repository:acme/app:pull",
      [],
      basic,
    );
    expect(t.status).toBe(200);
    const bearer = JSON.parse(t.body).token as string;
    wharfTokens.push(bearer);
    const manifest = () =>
      curl("n1", "ghcr.io", "/v2/acme/app/manifests/1", [
        `authorization: Bearer ${bearer}`,
        "accept: application/vnd.oci.image.manifest.v1+json",
      ]);
    expect((await manifest()).status).toBe(200);
    const revoked = await wharfCli(["token", "revoke", "ci-bot"]);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect((await manifest()).status).toBe(401);
    expect((await inspect("n1", "ghcr.io/acme/app:1", basic)).code).not.toBe(0);
  });

  it("a source-network rule admits one namespace and refuses another", async () => {
    expect((await inspect("n1", "docker.io/library/alpine:3.20")).code).toBe(0);
    const r = await inspect("n2", "docker.io/library/alpine:3.20");
    expect(r.code).not.toBe(0);
    const direct = await curl("n2", "registry-1.docker.io", "/v2/library/alpine/manifests/3.20");
    expect(direct.status).toBe(401);
  });

  it("a user whose upstream access is removed is refused within upstreamDecisionTtl", async () => {
    const carol = `${CAROL.user}:${CAROL.password}`;
    expect((await inspect("n1", `${GITLAB}/group/c/app:1`, carol)).code).toBe(0);
    await w.setTokenGrants(grants(false));
    const removed = Date.now();
    let refusedAfter = -1;
    while (Date.now() - removed < TTL_MS + 5000) {
      if ((await inspect("n1", `${GITLAB}/group/c/app:1`, carol)).code !== 0) {
        refusedAfter = Date.now() - removed;
        break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(refusedAfter).toBeGreaterThanOrEqual(0);
    expect(refusedAfter).toBeLessThan(TTL_MS + 1500);
  });

  it("an upstream outage lets in only the clients allowed before", async () => {
    await w.setTokenGrants(grants(true));
    const carol = `${CAROL.user}:${CAROL.password}`;
    const dave = `${DAVE.user}:${DAVE.password}`;
    const ref = `${GITLAB}/group/c/app:1`;
    // carol's allow and dave's refusal are fresh; then both go stale in the outage
    let ok = false;
    for (let i = 0; i < 40 && !ok; i++) {
      ok = (await inspect("n1", ref, carol)).code === 0;
      if (!ok) await new Promise((r) => setTimeout(r, 250));
    }
    expect(ok).toBe(true);
    expect((await inspect("n2", ref, dave)).code).not.toBe(0);
    w.gitlab.kill();
    await new Promise((r) => setTimeout(r, TTL_MS + 500));
    expect((await inspect("n1", ref, carol)).code).toBe(0);
    expect((await inspect("n2", ref, dave)).code).not.toBe(0);
    expect((await inspect("n2", ref)).code).not.toBe(0);
    const lines = w.wharf.logs().stdout;
    expect(lines).toMatch(/allowed before \(stale\)/);
  });

  it("wharf's logs, /metrics, /api/status and the error bodies hold no password or token", async () => {
    const admin = (path: string) =>
      w.topo.run("n1", ["curl", "-s", `http://${w.ip.gw}:9090${path}`], { allowFailure: true });
    const metrics = (await admin("/metrics")).stdout;
    const status = (await admin("/api/status")).stdout;
    expect(metrics).toContain("wharf_access_denied_total");
    const logs = w.wharf.logs();
    const places = { ...seen, stdout: logs.stdout, stderr: logs.stderr, metrics, status };
    const logins = [CAROL, DAVE, FILL, { user: "ci-bot", password: robotToken }];
    expect(robotToken.length).toBeGreaterThan(20);
    expect(leakedSecrets(places, [robotToken, ...wharfTokens], logins)).toEqual([]);
  });
});
