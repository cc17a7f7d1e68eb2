// The admin side of a replica set without a running set: the shared-store probe, /readyz degraded
// (not unready) when a shared store does not answer, the replica gauges and /api/status.
// test/e2e/replica-directory.test.ts covers the same on real Ceph and PostgreSQL.
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StoreHealth } from "../cache/store-health.ts";
import { silentLogger } from "../log.ts";
import { createAdminEndpoint } from "./admin-endpoint.ts";
import { createReadiness } from "./readiness.ts";
import type { ReplicaStatus } from "./replica-status.ts";
import { SharedStoreHealth } from "./shared-store-health.ts";
import type { StatusReport } from "./status-report.ts";
import { emptyStatusSource } from "./status-source.test-support.ts";
import type { StatusSource } from "./status-source.ts";

let dataDir: string;
let store: StoreHealth;
beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "wharf-admin-replicas-"));
  await mkdir(join(dataDir, "tmp"));
  store = new StoreHealth(join(dataDir, "tmp"));
  await store.probe();
});
afterAll(() => rm(dataDir, { recursive: true, force: true }));

const replicas: ReplicaStatus = {
  self: { id: "wharf-1-aa", name: "wharf-1" },
  heartbeatSeconds: 5,
  expirySeconds: 15,
  replicas: [
    {
      id: "wharf-1-aa",
      name: "wharf-1",
      addresses: ["10.0.0.1"],
      startedAt: "2026-03-01T12:00:00.000Z",
      seenSecondsAgo: 0.4,
      state: "healthy",
      health: { store: true, bucket: true, database: true },
      self: true,
    },
    {
      id: "wharf-2-bb",
      name: "wharf-2",
      addresses: ["10.0.0.2"],
      startedAt: "2026-03-01T12:00:00.000Z",
      seenSecondsAgo: 21.5,
      state: "gone",
      health: { store: true, bucket: true, database: true },
      self: false,
    },
  ],
};

const source = (over: Partial<StatusSource>) => emptyStatusSource({ version: "9.9.9", ...over });

describe("shared store health", () => {
  it("records an answer, an error and a probe that hangs past the timeout", async () => {
    let bucketUp = true;
    const h = new SharedStoreHealth({
      bucket: async () => {
        if (!bucketUp) throw new Error("connect ECONNREFUSED 10.0.0.9:7480");
      },
      database: () => new Promise<boolean>(() => {}), // never answers
      log: silentLogger,
      timeoutMs: 50,
      now: () => 1_000,
    });
    expect(h.state()).toEqual({
      bucket: { reachable: null, checkedAt: null },
      database: { reachable: null, checkedAt: null },
    });
    await h.probe();
    expect(h.state().bucket).toEqual({ reachable: true, checkedAt: 1_000 });
    expect(h.state().database).toEqual({
      reachable: false,
      checkedAt: 1_000,
      error: "no answer within 50 ms",
    });
    bucketUp = false;
    await h.probe();
    expect(h.state().bucket).toMatchObject({ reachable: false, error: "connect ECONNREFUSED 10.0.0.9:7480" });
  });
});

describe("admin endpoint in a replica set", () => {
  async function admin(bucket: boolean) {
    const h = new SharedStoreHealth({
      bucket: async () => {
        if (!bucket) throw new Error("no route to host");
      },
      database: async () => true,
      log: silentLogger,
    });
    await h.probe();
    return createAdminEndpoint({
      source: source({ replicas: () => replicas, sharedStore: () => h.state() }),
      readiness: createReadiness({ store, listeners: [], addresses: {}, shared: () => h.state() }),
      token: null,
      defaultMetrics: false,
    });
  }

  it("/readyz: ready with both stores answering; ready but degraded when the bucket does not", async () => {
    const ok = await (await admin(true)).app.request("/readyz");
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({
      status: "ready",
      checks: [
        { name: "store", ok: true },
        { name: "shared.bucket", ok: true, detail: "reachable" },
        { name: "shared.database", ok: true, detail: "reachable" },
      ],
    });
    const down = await (await admin(false)).app.request("/readyz");
    expect(down.status).toBe(200);
    const body = (await down.json()) as { status: string; degraded: string[]; checks: { detail?: string }[] };
    expect(body).toMatchObject({ status: "degraded", failures: [], degraded: ["shared.bucket"] });
    expect(body.checks[1]?.detail).toContain("no route to host");
  });

  it("/metrics: this replica, every replica's health and age, the shared stores", async () => {
    const text = await (await admin(false)).metrics.text();
    expect(text).toContain('wharf_replica_info{id="wharf-1-aa",name="wharf-1"} 1');
    expect(text).toContain('wharf_replica_healthy{id="wharf-1-aa",name="wharf-1"} 1');
    expect(text).toContain('wharf_replica_healthy{id="wharf-2-bb",name="wharf-2"} 0');
    expect(text).toContain('wharf_replica_seen_age_seconds{id="wharf-2-bb",name="wharf-2"} 21.5');
    expect(text).toContain('wharf_shared_store_up{store="bucket"} 0');
    expect(text).toContain('wharf_shared_store_up{store="database"} 1');
  });

  it("/api/status carries the replicas and the stores; null outside a replica set", async () => {
    const s = (await (await (await admin(true)).app.request("/api/status")).json()) as StatusReport;
    expect(s.replicas).toEqual(replicas);
    expect(s.sharedStore?.bucket?.reachable).toBe(true);
    const single = createAdminEndpoint({
      source: source({}),
      readiness: createReadiness({ store, listeners: [], addresses: {} }),
      token: null,
      defaultMetrics: false,
    });
    const one = (await (await single.app.request("/api/status")).json()) as StatusReport;
    expect(one.replicas).toBeNull();
    expect(one.sharedStore).toBeNull();
    expect(await single.metrics.text()).not.toContain("wharf_replica");
  });
});
