import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StoreHealth } from "../cache/store-health.ts";
import type { RequestEvent } from "../http/registry-app.ts";
import { createAdminEndpoint, startAdminServer } from "./admin-endpoint.ts";
import { bearerToken, tokensEqual } from "./bearer-auth.ts";
import { createReadiness } from "./readiness.ts";
import { requestEvent } from "./request-event.test-support.ts";
import type { StatusReport } from "./status-report.ts";
import type { StatusSource } from "./status-source.ts";

const T0 = Date.parse("2026-03-01T12:00:00Z");

function source(over: Partial<StatusSource> = {}): StatusSource {
  return {
    version: "9.9.9",
    startedAt: T0 - 90_000,
    registries: () => [
      {
        name: "docker.io",
        upstream: "https://registry-1.docker.io",
        aliases: ["registry-1.docker.io"],
        offline: false,
        breaker: "closed",
        lastError: null,
      },
      {
        name: "ghcr.io",
        upstream: "https://ghcr.io",
        aliases: [],
        offline: false,
        breaker: "open",
        lastError: "HTTP 503",
      },
    ],
    cacheTotals: () => ({ bytes: 750, entries: 4, maxBytes: 1000 }),
    rateLimits: () => [
      {
        registry: "docker.io",
        account: "anonymous",
        limit: 100,
        remaining: 97,
        windowSeconds: 21600,
        observedAt: T0,
      },
    ],
    fillsInFlight: () => 1,
    ca: () => ({
      subject: "CN=wharf local CA test, O=wharf",
      fingerprint256: "AB:CD",
      notAfter: "2036-01-01T00:00:00.000Z",
    }),
    listen: () => ({ http: "127.0.0.1:5000" }),
    clientCommands: () => ["wharf client-config docker --out ./wharf-certs"],
    ...over,
  };
}

const ev = (p: Partial<RequestEvent>) => requestEvent({ reference: "3.20", ...p });

let dataDir: string;
let store: StoreHealth;
beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "wharf-admin-"));
  await mkdir(join(dataDir, "tmp"));
  store = new StoreHealth(join(dataDir, "tmp"));
  await store.probe();
});
afterAll(() => rm(dataDir, { recursive: true, force: true }));

function endpoint(
  token: string | null,
  src = source(),
  listeners: string[] = ["http"],
  addresses: Record<string, string> = { http: "127.0.0.1:5000" },
) {
  return createAdminEndpoint({
    source: src,
    readiness: createReadiness({ store, ca: () => ({}), listeners, addresses }),
    token,
    now: () => T0,
    defaultMetrics: false,
  });
}

describe("admin app", () => {
  it("answers /healthz, and /readyz from the readiness checks", async () => {
    const a = endpoint(null);
    expect(await (await a.app.request("/healthz")).json()).toEqual({ status: "ok" });
    const ready = await a.app.request("/readyz");
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: "ready", failures: [] });
    const notReady = endpoint(null, source(), ["http", "dns"]);
    const r = await notReady.app.request("/readyz");
    expect(r.status).toBe(503);
    expect(await r.json()).toMatchObject({ status: "not ready", failures: ["listen.dns"] });
  });

  it("reports a store that takes no writes, or a CA not loaded, as not ready", async () => {
    const broken = new StoreHealth(join(dataDir, "missing"));
    expect(await broken.probe()).toBe(false);
    const a = createAdminEndpoint({
      source: source(),
      readiness: createReadiness({ store: broken, ca: () => undefined, listeners: [], addresses: {} }),
      token: null,
      defaultMetrics: false,
    });
    const r = await a.app.request("/readyz");
    expect(r.status).toBe(503);
    const body = (await r.json()) as { checks: { name: string; ok: boolean; detail?: string }[] };
    expect(body.checks[0]).toMatchObject({ name: "store", ok: false });
    expect(body.checks[0]?.detail).toContain("ENOENT");
    expect(body.checks[1]).toEqual({ name: "ca", ok: false, detail: "CA not loaded" });
  });

  it("serves /api/status from the counters and the live source", async () => {
    const a = endpoint(null);
    a.onRequest(ev({ outcome: "miss", bytes: 300 }));
    a.onRequest(ev({ outcome: "hit", bytes: 300 }));
    a.onRequest(ev({ outcome: "hit", bytes: 300 }));
    a.onRequest(
      ev({
        registry: "ghcr.io",
        repository: "acme/app",
        outcome: "error",
        status: 502,
        errorCode: "UPSTREAM_UNAVAILABLE",
      }),
    );
    const res = await a.app.request("/api/status");
    expect(res.headers.get("cache-control")).toBe("no-store");
    const s = (await res.json()) as StatusReport;
    expect(s.version).toBe("9.9.9");
    expect(s.uptimeSeconds).toBe(90);
    const hub = s.registries.find((r) => r.name === "docker.io");
    expect(hub).toMatchObject({
      requests: 3,
      hits: 2,
      misses: 1,
      bytesServedFromCache: 600,
      bytesFetchedUpstream: 300,
      bytesSaved: 600,
    });
    expect(hub?.hitRatio).toBeCloseTo(2 / 3);
    expect(hub?.rateLimit).toEqual([
      {
        account: "anonymous",
        limit: 100,
        remaining: 97,
        windowSeconds: 21600,
        observedAt: new Date(T0).toISOString(),
      },
    ]);
    const ghcr = s.registries.find((r) => r.name === "ghcr.io");
    expect(ghcr).toMatchObject({
      hitRatio: null,
      upstream: { url: "https://ghcr.io", breaker: "open", lastError: "HTTP 503" },
      upstreamErrors: { unavailable: 1 },
    });
    expect(s.totals).toMatchObject({ requests: 4, hits: 2, misses: 1, bytesSaved: 600 });
    expect(s.topRepositories[0]).toMatchObject({
      registry: "docker.io",
      repository: "library/alpine",
      requests: 3,
    });
    expect(s.recentErrors).toHaveLength(1);
    expect(s.cache).toEqual({ bytes: 750, entries: 4, maxBytes: 1000, usageRatio: 0.75 });
    expect(s.fills.inFlight).toBe(1);
    expect(s.ca?.fingerprint256).toBe("AB:CD");
    expect(s.clientCommands).toEqual(["wharf client-config docker --out ./wharf-certs"]);
    expect(s.listen).toEqual({ http: "127.0.0.1:5000" });
  });

  it("serves Prometheus text on /metrics", async () => {
    const a = endpoint(null);
    a.onRequest(ev({ outcome: "hit", bytes: 10 }));
    a.onFill({ bytes: 10, ms: 200, ok: true });
    a.onEviction({ evicted: 2, bytes: 20 });
    a.onDnsQuery("intercepted");
    const res = await a.app.request("/metrics");
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(text).toContain('wharf_requests_total{registry="docker.io",kind="blob",outcome="hit"} 1');
    expect(text).toContain("wharf_fill_duration_seconds_count 1");
    expect(text).toContain("wharf_evictions_total 2");
    expect(text).toContain('wharf_dns_queries_total{kind="intercepted"} 1');
    expect(text).toContain("wharf_cache_max_bytes 1000");
  });

  it("serves a self-contained page with a strict CSP", async () => {
    const res = await endpoint(null).app.request("/");
    expect(res.status).toBe(200);
    const html = await res.text();
    const csp = res.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("default-src 'none'");
    expect(csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/=]+'/);
    expect(html).not.toContain("/*SCRIPT*/");
    expect(html).toContain('fetch("api/status"');
    // Nothing is loaded from elsewhere: no external src/href at all.
    expect(html).not.toMatch(/(src|href)=["']?(https?:)?\/\//);
  });
});

describe("admin.token", () => {
  const token = "s3cret-admin-token";

  it("lets /healthz through and wants the bearer token everywhere else", async () => {
    const a = endpoint(token);
    expect((await a.app.request("/healthz")).status).toBe(200);
    for (const path of ["/readyz", "/metrics", "/api/status", "/", "/nope"]) {
      const res = await a.app.request(path);
      expect(res.status, path).toBe(401);
      expect(res.headers.get("www-authenticate")).toBe('Bearer realm="wharf admin"');
      const wrong = await a.app.request(path, { headers: { authorization: "Bearer s3cret-admin-tokeX" } });
      expect(wrong.status, path).toBe(401);
      expect(wrong.headers.get("www-authenticate")).toContain('error="invalid_token"');
      const right = await a.app.request(path, { headers: { authorization: `Bearer ${token}` } });
      expect(right.status, path).toBe(path === "/nope" ? 404 : 200);
    }
  });

  it("takes ?token= for the page only, never for the data", async () => {
    const a = endpoint(token);
    expect((await a.app.request(`/?token=${token}`)).status).toBe(200);
    expect((await a.app.request("/?token=wrong")).status).toBe(401);
    expect((await a.app.request(`/api/status?token=${token}`)).status).toBe(401);
    expect((await a.app.request(`/metrics?token=${token}`)).status).toBe(401);
  });

  it("parses and compares tokens", () => {
    expect(bearerToken("Bearer abc")).toBe("abc");
    expect(bearerToken("bearer  abc ")).toBe("abc");
    expect(bearerToken("Basic abc")).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
    expect(tokensEqual("abc", "abc")).toBe(true);
    expect(tokensEqual("abc", "abcd")).toBe(false);
    expect(tokensEqual("", "abc")).toBe(false);
  });
});

describe("startAdminServer", () => {
  it("listens on loopback, port 0", async () => {
    const a = endpoint(null);
    const { server, address } = await startAdminServer({ host: "127.0.0.1", port: 0, app: a.app });
    try {
      const res = await fetch(`http://127.0.0.1:${address.port}/healthz`);
      expect(await res.json()).toEqual({ status: "ok" });
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
