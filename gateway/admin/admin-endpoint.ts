// Everything behind listen.admin in one object for startWharf: the counters, the metrics, the app,
// the hooks the gateway calls (onRequest, onFill, onEviction, onDnsQuery) and the listener.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { getRequestListener } from "@hono/node-server";
import type { Hono } from "hono";
import { Counter } from "prom-client";
import { listenOn } from "../../common/listen.ts";
import type { AccessAudit } from "../access/access-audit.ts";
import type { RequestEvent } from "../http/registry-app.ts";
import { createAdminApp } from "./admin-app.ts";
import { createMetrics, type WharfMetrics } from "./metrics.ts";
import type { Readiness } from "./readiness.ts";
import { registerReplicaMetrics } from "./replica-status.ts";
import type { StatusSource, WorkerFigures } from "./status-source.ts";
import { WharfStats } from "./wharf-stats.ts";

export interface AdminEndpoint {
  readonly stats: WharfStats;
  readonly metrics: WharfMetrics;
  readonly app: Hono;
  /** registry-app's onRequest. */
  onRequest(e: RequestEvent): void;
  /** A blob fill ended: stored (ok) with `bytes`, or failed, after `ms`. */
  onFill(f: { bytes: number; ms: number; ok: boolean }): void;
  /** Evictor.onEvict. */
  onEviction(r: { evicted: number; bytes: number }): void;
  /** The DNS responder's onQuery. */
  onDnsQuery(kind: string): void;
  /** Shows the access audit: wharf_access_denied_total and the status page's recent denials. */
  onAccess(audit: AccessAudit): void;
  /** Shows per-worker figures on the status page (workers: N). */
  onWorkers(figures: () => WorkerFigures[]): void;
}

export function createAdminEndpoint(opts: {
  source: StatusSource;
  readiness: Readiness;
  token: string | null;
  now?: () => number;
  /** Process metrics (CPU, memory, event loop); default on. */
  defaultMetrics?: boolean;
}): AdminEndpoint {
  const stats = new WharfStats({ now: opts.now });
  const metrics = createMetrics(opts.source, { defaultMetrics: opts.defaultMetrics });
  registerReplicaMetrics(metrics.registry, opts.source);
  const app = createAdminApp({
    stats,
    metrics,
    source: opts.source,
    readiness: opts.readiness,
    token: opts.token,
    now: opts.now,
  });
  return {
    stats,
    metrics,
    app,
    onRequest(e) {
      stats.record(e);
      metrics.observeRequest(e);
    },
    onFill(f) {
      stats.recordFill(f);
      metrics.observeFill(f.ms);
    },
    onEviction(r) {
      metrics.observeEviction(r.evicted, r.bytes);
    },
    onDnsQuery(kind) {
      metrics.observeDnsQuery(kind);
    },
    onWorkers(figures) {
      opts.source.workers = figures;
    },
    onAccess(audit) {
      opts.source.accessDenials = () => audit.recentDenials();
      new Counter({
        name: "wharf_access_denied_total",
        help: "Requests and token scopes refused by access rules or an upstream's answer, by registry and action",
        labelNames: ["registry", "action"] as const,
        registers: [metrics.registry],
        collect() {
          this.reset();
          for (const [key, n] of audit.denied) {
            const [registry = "", action = ""] = key.split("\0");
            this.inc({ registry, action }, n);
          }
        },
      });
    },
  };
}

/** Serves `app` over plain HTTP on host:port (port 0 picks one); errors name listen.admin. */
export async function startAdminServer(opts: {
  host: string;
  port: number;
  app: Hono;
}): Promise<{ server: Server; address: AddressInfo }> {
  const server = createServer(
    { headersTimeout: 10_000, requestTimeout: 30_000, keepAliveTimeout: 5_000 },
    getRequestListener(opts.app.fetch),
  );
  const address = await listenOn(server, opts.host, opts.port, "admin");
  return { server, address };
}
