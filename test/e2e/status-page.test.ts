// The status page in headless Chromium after real pulls. The gateway is assembled in this process
// from the same parts startWharf uses (cache, backends, registry app, admin endpoint), because
// startWharf does not start the admin listener yet; skopeo pulls through its HTTP mirror endpoint
// from a real docker-registry. The page must render the numbers /api/status reports.
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { getRequestListener } from "@hono/node-server";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { loadOrCreateCa } from "../../certs/certificate-authority.ts";
import { createAdminEndpoint, startAdminServer } from "../../gateway/admin/admin-endpoint.ts";
import { createReadiness } from "../../gateway/admin/readiness.ts";
import type { StatusReport } from "../../gateway/admin/status-report.ts";
import { statusSourceFrom } from "../../gateway/admin/status-source.ts";
import { type OpenedCache, openCache } from "../../gateway/cache/open-cache.ts";
import { RateLimits } from "../../gateway/cache/rate-limits.ts";
import { StoreHealth } from "../../gateway/cache/store-health.ts";
import { buildConfig } from "../../gateway/config/load-config.ts";
import { formatBytes } from "../../gateway/config/units.ts";
import { createRegistryApp } from "../../gateway/http/registry-app.ts";
import { RegistryRouter } from "../../gateway/http/registry-router.ts";
import { silentLogger } from "../../gateway/log.ts";
import { ProxyRegistry } from "../../gateway/registry/proxy-registry.ts";
import { buildBackends } from "../../gateway/server/build-backends.ts";
import { createUpstreamDispatcher } from "../../gateway/upstream/dispatcher.ts";
import type { UpstreamClient } from "../../gateway/upstream/upstream-client.ts";
import { startUpstreamProbes, type UpstreamProbes } from "../../gateway/upstream/upstream-probe.ts";
import { UpstreamResolver } from "../../gateway/upstream/upstream-resolver.ts";
import { freePort, loopbackIp } from "../support/ports.ts";
import { runCommand } from "../support/run-command.ts";
import { pushLayout, runSkopeo } from "../support/skopeo.ts";
import { makeTestCa } from "../support/test-ca.ts";
import { startUpstreamRegistry, type UpstreamRegistry } from "../support/upstream-registry.ts";

const CHROMIUM = "/usr/bin/chromium";
const ARTIFACTS = fileURLToPath(new URL("../artifacts/", import.meta.url));
const TOKEN = "status-page-test-token";

/** Debian's chromium, installed with apt-get when missing; a failure stops the test loudly. */
async function ensureChromium(): Promise<void> {
  if (existsSync(CHROMIUM)) return;
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  try {
    await runCommand(["apt-get", "update"], { env, timeoutMs: 300_000 });
    await runCommand(["apt-get", "install", "-y", "chromium"], { env, timeoutMs: 900_000 });
  } catch (e) {
    throw new Error(
      `the status page test needs Debian's chromium; apt-get install -y chromium failed:\n${(e as Error).message}`,
    );
  }
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} still missing after apt-get install chromium`);
}

const percent = (r: number | null) => (r === null ? "—" : `${(r * 100).toFixed(1)} %`);

describe("status page", () => {
  const ip = loopbackIp();
  let dir: string;
  let upstream: UpstreamRegistry | undefined;
  /** quay.io's own upstream, stopped once its image is cached. */
  let quayUpstream: UpstreamRegistry | undefined;
  let probes: UpstreamProbes | undefined;
  let opened: OpenedCache | undefined;
  let gateway: Server | undefined;
  let admin: Server | undefined;
  let browser: Browser | undefined;
  let mirror: string;
  let adminUrl: string;
  const closers: (() => Promise<unknown> | unknown)[] = [];

  beforeAll(async () => {
    await ensureChromium();
    dir = await mkdtemp(join(tmpdir(), "wharf-status-page-"));
    const pki = await makeTestCa(join(dir, "pki"), { dnsNames: ["upstream.wharf.test"], ips: [ip] });
    upstream = await startUpstreamRegistry({ host: ip, port: 0, cert: pki.cert, key: pki.key });
    const up = `${ip}:${upstream.port}`;
    await pushLayout("busybox", `${up}/library/busybox:1`, { certDir: pki.certDir });
    await pushLayout("multi", `${up}/acme/multi:1`, { certDir: pki.certDir });
    quayUpstream = await startUpstreamRegistry({ host: ip, port: 0, cert: pki.cert, key: pki.key });
    await pushLayout("busybox", `${ip}:${quayUpstream.port}/acme/tools:1`, { certDir: pki.certDir });

    const dataDir = join(dir, "data");
    const { config, ...loaded } = buildConfig({
      dataDir,
      upstreamDns: "127.0.0.1:53",
      upstreamCaFile: pki.caCert,
      cache: { maxSize: "16MiB" },
      registries: {
        "docker.io": { upstream: upstream.url, aliases: ["registry-1.docker.io"] },
        "ghcr.io": { upstream: upstream.url },
        // nothing listens there: its breaker opens after three failures
        "registry.gitlab.com": { upstream: `https://${ip}:${await freePort(ip)}` },
        // its layers are docker.io's busybox, already cached: only its manifests come from upstream
        "quay.io": { upstream: quayUpstream.url },
      },
    });
    await mkdir(dataDir, { recursive: true });
    opened = await openCache({ dataDir, log: silentLogger, fillTimeoutMs: config.cache.fillTimeout });
    const cache = opened.cache;
    const ca = await loadOrCreateCa({ dir: dataDir, hostname: "status-page-test" });
    const dispatcher = createUpstreamDispatcher(config, new UpstreamResolver(config.upstreamDns));
    closers.push(() => dispatcher.close());
    const rateLimits = new RateLimits();
    const backends = buildBackends({
      loaded: { config, ...loaded },
      cache,
      dispatcher,
      rateLimits,
      log: silentLogger,
      userAgent: "wharf-test",
    });
    // The periodic /v2/ probe as startWharf runs it, with a short interval.
    probes = startUpstreamProbes({
      upstreams: [...backends.values()].flatMap((b): UpstreamClient[] =>
        b instanceof ProxyRegistry ? [b.upstream] : [],
      ),
      intervalMs: 2000,
      timeoutMs: 5000,
      log: silentLogger,
    });
    const addresses: Record<string, string> = {};
    const endpoint = createAdminEndpoint({
      source: statusSourceFrom({
        config,
        cache,
        backends,
        rateLimits,
        version: "0.0.0-test",
        ca: () => ca,
        addresses,
      }),
      readiness: createReadiness({
        store: new StoreHealth(cache.store.tmpDir),
        ca: () => ca,
        listeners: ["http", "admin"],
        addresses,
      }),
      token: TOKEN,
    });
    const app = createRegistryApp({
      router: new RegistryRouter(config),
      registries: backends,
      log: silentLogger,
      onRequest: endpoint.onRequest,
    });
    gateway = createServer(getRequestListener(app.fetch));
    await new Promise<void>((r) => gateway?.listen(0, "127.0.0.1", r));
    mirror = `127.0.0.1:${(gateway.address() as AddressInfo).port}`;
    addresses.http = mirror;
    const started = await startAdminServer({ host: "127.0.0.1", port: 0, app: endpoint.app });
    admin = started.server;
    adminUrl = `http://127.0.0.1:${started.address.port}`;
    addresses.admin = `127.0.0.1:${started.address.port}`;

    // Real pulls: busybox twice (misses, then hits), one platform of multi through the ghcr.io prefix.
    const insecure = ["copy", "--src-tls-verify=false"];
    await runSkopeo([...insecure, `docker://${mirror}/library/busybox:1`, `dir:${join(dir, "bb1")}`]);
    await runSkopeo([...insecure, `docker://${mirror}/library/busybox:1`, `dir:${join(dir, "bb2")}`]);
    await runSkopeo([...insecure, `docker://${mirror}/ghcr.io/acme/multi:1`, `dir:${join(dir, "multi")}`]);
    // A tag that does not exist, and a dead upstream (three failures open its breaker).
    expect((await fetch(`http://${mirror}/v2/library/nope/manifests/1`)).status).toBe(404);
    for (let i = 0; i < 3; i++)
      expect((await fetch(`http://${mirror}/v2/registry.gitlab.com/acme/app/manifests/1`)).status).toBe(502);
    // quay.io: pulled once, then its upstream goes away; the next pull is served from cache alone.
    await runSkopeo([...insecure, `docker://${mirror}/quay.io/acme/tools:1`, `dir:${join(dir, "q1")}`]);
    await quayUpstream.stop();
    await runSkopeo([...insecure, `docker://${mirror}/quay.io/acme/tools:1`, `dir:${join(dir, "q2")}`]);
    // Docker Hub's allowance headers as the upstream client sees them ("100;w=21600").
    rateLimits.record("docker.io", undefined, { limit: "100;w=21600", remaining: "97;w=21600" });

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-domain-reliability",
        // Only IP literals resolve: nothing the browser might look up on its own leaves the machine.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
      ],
    });
  }, 240_000);

  afterAll(async () => {
    probes?.stop();
    await browser?.close();
    await new Promise((r) => (admin ? admin.close(r) : r(undefined)));
    gateway?.closeAllConnections();
    await new Promise((r) => (gateway ? gateway.close(r) : r(undefined)));
    for (const c of closers.reverse()) await c();
    opened?.close();
    await upstream?.stop();
    await quayUpstream?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function status(): Promise<StatusReport> {
    const res = await fetch(`${adminUrl}/api/status`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
    return (await res.json()) as StatusReport;
  }

  async function openPage(colorScheme: "light" | "dark"): Promise<{ page: Page; requested: string[] }> {
    const context = await (browser as Browser).newContext({
      viewport: { width: 1280, height: 1000 },
      colorScheme,
      deviceScaleFactor: 1,
    });
    const page = await context.newPage();
    const requested: string[] = [];
    page.on("request", (r) => requested.push(r.url()));
    await page.goto(`${adminUrl}/?token=${TOKEN}`);
    await page.waitForSelector("body[data-loaded]", { timeout: 10_000 });
    return { page, requested };
  }

  test("renders what /api/status reports, and nothing from elsewhere", async () => {
    const { page, requested } = await openPage("light");
    const s = await status();
    const text = (id: string) => page.locator(`[data-testid="${id}"]`).textContent();
    const value = (id: string) => page.locator(`[data-testid="${id}"]`).getAttribute("data-value");

    const hub = s.registries.find((r) => r.name === "docker.io");
    const ghcr = s.registries.find((r) => r.name === "ghcr.io");
    const gitlab = s.registries.find((r) => r.name === "registry.gitlab.com");
    // The pulls really happened: misses then hits on docker.io, a miss-only pull on ghcr.io.
    expect(hub?.misses).toBeGreaterThan(0);
    expect(hub?.hits).toBeGreaterThan(0);
    expect(hub?.bytesSaved).toBeGreaterThan(0);
    expect(ghcr?.requests).toBeGreaterThan(0);
    expect(gitlab?.upstream?.breaker).toBe("open");

    for (const r of s.registries) {
      expect(await value(`hit-ratio-${r.name}`)).toBe(r.hitRatio === null ? "" : String(r.hitRatio));
      expect(await text(`hit-ratio-${r.name}`)).toBe(percent(r.hitRatio));
      expect(await value(`bytes-saved-${r.name}`)).toBe(String(r.bytesSaved));
      expect(await text(`bytes-saved-${r.name}`)).toBe(formatBytes(r.bytesSaved));
      expect(await value(`bytes-upstream-${r.name}`)).toBe(String(r.bytesFetchedUpstream));
      expect(await value(`requests-${r.name}`)).toBe(String(r.requests));
      // quay.io's upstream is gone: the probes move its breaker while this runs
      if (r.name !== "quay.io") expect(await value(`breaker-${r.name}`)).toBe(r.upstream?.breaker);
    }
    expect(await text("ratelimit-docker.io")).toBe("97 / 100 (anonymous)");
    expect(await text("ratelimit-ghcr.io")).toBe("—");
    expect(await text("breaker-registry.gitlab.com")).toBe("paused after errors");
    expect(await text("last-error-registry.gitlab.com")).toContain("unreachable");

    expect(await value("total-hit-ratio")).toBe(String(s.totals.hitRatio));
    expect(await value("total-bytes-saved")).toBe(String(s.totals.bytesSaved));
    expect(await value("total-requests")).toBe(String(s.totals.requests));
    expect(await value("cache-bytes")).toBe(String(s.cache.bytes));
    expect(await text("cache-bytes")).toBe(formatBytes(s.cache.bytes));
    expect(await text("cache-max")).toBe("16.0 MiB");
    expect(await value("cache-usage")).toBe(String(s.cache.usageRatio));
    expect(s.cache.entries).toBeGreaterThan(0);
    expect(await text("ca-fingerprint")).toBe(s.ca?.fingerprint256);
    expect(await page.locator('[data-testid="top-repository"]').count()).toBe(s.topRepositories.length);
    expect(await page.locator('[data-testid="recent-error"]').count()).toBe(
      Math.min(15, s.recentErrors.length),
    );
    expect(s.recentErrors.map((e) => e.errorCode)).toEqual(
      expect.arrayContaining(["MANIFEST_UNKNOWN", "UPSTREAM_UNAVAILABLE"]),
    );
    expect(await page.locator('[data-testid="client-command"]').allTextContents()).toEqual(s.clientCommands);

    // The token left the address bar for sessionStorage; every request stayed on the admin origin.
    expect(page.url()).toBe(`${adminUrl}/`);
    expect(await page.evaluate(() => sessionStorage.getItem("wharf-admin-token"))).toBe(TOKEN);
    expect(requested.every((u) => u.startsWith(`${adminUrl}/`))).toBe(true);
    expect(requested).toContain(`${adminUrl}/api/status`);

    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, "status-page.png"), fullPage: true });
    await page.context().close();
  });

  test("an upstream that went away shows as unreachable while its pulls are served from cache", async () => {
    const s0 = await status();
    const quay = s0.registries.find((r) => r.name === "quay.io");
    // Only manifests came from quay.io's upstream (the layers were docker.io's): they count as fetched.
    expect(quay?.misses).toBeGreaterThan(0);
    expect(quay?.bytesFetchedUpstream).toBeGreaterThan(0);
    expect(quay?.hits).toBeGreaterThan(0);
    // The second pull never asked upstream, so no request failed: only the probe can notice (the
    // breaker, fed by the probe too, may open after three of them).
    expect(quay?.errors).toBe(0);
    await expect
      .poll(
        async () => (await status()).registries.find((r) => r.name === "quay.io")?.upstream?.reachability,
        {
          timeout: 15_000,
        },
      )
      .toBe("unreachable");
    const s = await status();
    const down = s.registries.find((r) => r.name === "quay.io")?.upstream;
    expect(down?.unreachableSince).toBeTruthy();
    expect(down?.lastSuccessAt).toBeTruthy();
    expect(down?.lastError).toContain("ECONNREFUSED");
    expect(s.registries.find((r) => r.name === "docker.io")?.upstream?.reachability).toBe("reachable");

    const { page } = await openPage("light");
    const text = (id: string) => page.locator(`[data-testid="${id}"]`).textContent();
    expect(["upstream unreachable", "paused after errors", "recovering"]).toContain(
      await text("breaker-quay.io"),
    );
    expect(await text("upstream-down-quay.io")).toMatch(/^Serving from cache; upstream unreachable since /);
    expect(await page.locator('[data-testid="upstream-down-quay.io"]').getAttribute("data-value")).toBe(
      down?.unreachableSince,
    );
    expect(await text("breaker-docker.io")).toBe("healthy");
    expect(await text("bytes-upstream-quay.io")).toBe(
      formatBytes(down ? (s.registries.find((r) => r.name === "quay.io")?.bytesFetchedUpstream ?? 0) : 0),
    );
    await page.screenshot({ path: join(ARTIFACTS, "status-page-upstream-down.png"), fullPage: true });
    await page.context().close();
  });

  test("dark mode, and a banner when the token stops working", async () => {
    const { page } = await openPage("dark");
    const bg = await page.evaluate("getComputedStyle(document.body).backgroundColor");
    expect(bg).toBe("rgb(14, 17, 22)");
    await page.screenshot({ path: join(ARTIFACTS, "status-page-dark.png"), fullPage: true });
    // The token changed (wharf restarted with another admin.token): the next refresh shows why numbers stopped.
    await page.evaluate(() => sessionStorage.setItem("wharf-admin-token", "wrong"));
    await expect
      .poll(() => page.locator("#banner").textContent(), { timeout: 12_000 })
      .toContain("not accepted");
    expect(await page.locator("#banner").isVisible()).toBe(true);
    await page.context().close();
  });
});
