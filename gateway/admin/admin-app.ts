// The admin endpoint (listen.admin): liveness, readiness, Prometheus metrics, the status document
// and the status page. With admin.token set, everything but /healthz wants the bearer token.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { Hono } from "hono";
import { requireBearer } from "./bearer-auth.ts";
import type { WharfMetrics } from "./metrics.ts";
import type { Readiness, ReadinessCheck } from "./readiness.ts";
import { buildStatusReport } from "./status-report.ts";
import type { StatusSource } from "./status-source.ts";
import type { WharfStats } from "./wharf-stats.ts";

export interface AdminAppDeps {
  stats: WharfStats;
  metrics: WharfMetrics;
  source: StatusSource;
  readiness: Readiness;
  /** admin.token; null leaves the endpoint open (it binds to loopback by default). */
  token: string | null;
  now?: () => number;
}

const asset = (name: string) => readFileSync(new URL(name, import.meta.url), "utf8");
const sha256 = (text: string) => `'sha256-${createHash("sha256").update(text).digest("base64")}'`;

/** The page with its script and style inlined, and a CSP that allows exactly those and same-origin fetches. */
function statusPage(): { html: string; csp: string } {
  const style = `${asset("./status-page.css")}\n${asset("./status-page-panels.css")}`;
  const script = `${asset("./status-page-helpers.js")}\n${asset("./status-page.js")}`;
  const html = asset("./status-page.html")
    .replace("<style>/*STYLE*/</style>", () => `<style>${style}</style>`)
    .replace("<script>/*SCRIPT*/</script>", () => `<script>${script}</script>`);
  const csp = [
    "default-src 'none'",
    `script-src ${sha256(script)}`,
    `style-src ${sha256(style)}`,
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
  return { html, csp };
}

const PAGE = statusPage();

export function createAdminApp(deps: AdminAppDeps): Hono {
  const app = new Hono();
  const now = deps.now ?? Date.now;

  app.use("*", async function securityHeaders(c, next) {
    await next();
    c.header("x-content-type-options", "nosniff");
    c.header("referrer-policy", "no-referrer");
    c.header("cache-control", "no-store");
  });
  app.use("*", requireBearer({ token: deps.token, open: ["/healthz"], queryTokenPaths: ["/"] }));

  app.get("/healthz", (c) => c.json({ status: "ok" }));

  app.get("/readyz", async (c) => {
    const checks: ReadinessCheck[] = await deps
      .readiness()
      .catch((e: Error) => [{ name: "readiness", ok: false, detail: e.message }]);
    const failures = checks.filter((ch) => !ch.ok);
    const degraded = checks.filter((ch) => ch.ok && ch.degraded);
    return c.json(
      {
        status: failures.length > 0 ? "not ready" : degraded.length > 0 ? "degraded" : "ready",
        checks,
        failures: failures.map((f) => f.name),
        ...(degraded.length > 0 && { degraded: degraded.map((d) => d.name) }),
      },
      failures.length === 0 ? 200 : 503,
    );
  });

  app.get("/metrics", async (c) =>
    c.body(await deps.metrics.text(), 200, { "content-type": deps.metrics.contentType }),
  );

  app.get("/api/status", (c) => c.json(buildStatusReport(deps.stats, deps.source, now())));

  app.get("/", (c) => c.html(PAGE.html, 200, { "content-security-policy": PAGE.csp }));

  app.notFound((c) =>
    c.json({ error: "not found", routes: ["/", "/healthz", "/readyz", "/metrics", "/api/status"] }, 404),
  );
  return app;
}
