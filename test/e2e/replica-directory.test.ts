// Issue 18, the operations side of a replica set: replicas on a real Ceph bucket and a real
// PostgreSQL register in the replica directory; their DNS responders (dig as the client) answer the
// intercepted names with every healthy replica's address; the admin endpoint shows the replicas and
// the shared stores' health; a killed replica leaves the answers within the expiry, a stopped one
// at the next heartbeat; a database outage leaves a replica ready but degraded. And `wharf gc` /
// `wharf cache gc` run under the collection lease, while local eviction leaves the bucket whole.
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Pool } from "pg";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import type { ReplicaStatus } from "../../gateway/admin/replica-status.ts";
import type { SharedStoreState } from "../../gateway/admin/shared-store-health.ts";
import { tryCollectLease } from "../../gateway/store/pg/collect-lease.ts";
import { type Ceph, startCeph } from "../support/ceph.ts";
import { digAt } from "../support/dns-testbed.ts";
import { type LoopbackInternet, startLoopbackInternet } from "../support/loopback-internet.ts";
import { freePort, loopbackIp } from "../support/ports.ts";
import { type Postgres, startPostgres } from "../support/postgres.ts";
import { createReplicaSet, type ReplicaSet, replicaEnv } from "../support/replica-set.ts";
import { runSkopeo } from "../support/skopeo.ts";
import { runWharfCli, type WharfProcess } from "../support/wharf-process.ts";

let ceph: Ceph;
let pg: Postgres;
let net: LoopbackInternet;
let set: ReplicaSet;

beforeAll(async () => {
  [ceph, pg, net] = await Promise.all([startCeph(), startPostgres(), startLoopbackInternet()]);
  set = await createReplicaSet(ceph, pg, net);
}, 180_000);

afterAll(async () => {
  for (const w of set?.started ?? []) await w.stop().catch(() => {});
  await net?.stop();
  await pg?.stop().catch(() => {});
  await ceph?.stop();
});

interface Replica {
  w: WharfProcess;
  ip: string;
  dnsPort: number;
  admin: string;
}

/** A replica whose DNS responder, admin endpoint and HTTP listener are on its own loopback address. */
async function startReplica(): Promise<Replica> {
  const ip = loopbackIp();
  const dnsPort = await freePort(ip);
  const adminPort = await freePort(ip);
  const w = await set.start({
    listen: { http: `${ip}:5000`, dns: `${ip}:${dnsPort}`, admin: `${ip}:${adminPort}` },
    dns: { answer: [ip] },
  });
  return { w, ip, dnsPort, admin: `http://${ip}:${adminPort}` };
}

async function answers(r: Replica, name = "docker.io"): Promise<string[]> {
  const d = await digAt(r.ip, r.dnsPort, name, "A");
  expect(d.status, d.output).toBe("NOERROR");
  return d.answers.filter((a) => a.type === "A").map((a) => a.data);
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const status = async (r: Replica) =>
  (await (await fetch(`${r.admin}/api/status`)).json()) as {
    replicas: ReplicaStatus | null;
    sharedStore: SharedStoreState | null;
  };

/** Runs a one-shot `wharf` command with a replica's configuration and storage secrets. */
function wharfCli(w: WharfProcess, configFile: string, ...args: string[]) {
  const env = w.config.storage as { postgres: unknown };
  expect(env.postgres).toBeDefined();
  return runWharfCli(w, args, { configFile, env: replicaEnv(ceph, set.databaseUrl), timeoutMs: 120_000 });
}

const countFiles = async (dir: string): Promise<number> => {
  let n = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) n++;
  return n;
};

describe("collection lease on PostgreSQL, local eviction on Ceph", () => {
  it("gc commands wait their turn; evicting a replica's local copies leaves the bucket whole", async () => {
    const a = await startReplica();
    const host = new URL(a.w.httpUrl).host;
    await runSkopeo([
      "copy",
      "--src-tls-verify=false",
      `docker://${host}/docker.io/library/busybox:latest`,
      `dir:${join(a.w.dir, "pulled")}`,
    ]);
    // the same configuration with a budget every blob exceeds: `wharf cache gc` evicts them all
    const config = parse(await readFile(join(a.w.dir, "wharf.yml"), "utf8")) as Record<string, unknown>;
    const small = join(a.w.dir, "small.yml");
    await writeFile(small, stringify({ ...config, cache: { maxSize: "1B" } }));
    const verify = async () => {
      const r = await wharfCli(a.w, small, "cache", "verify");
      expect(r.code, r.stderr).toBe(0);
      return Number(/verified (\d+) blob\(s\) in the shared store/.exec(r.stdout)?.[1]);
    };
    const inBucket = await verify();
    expect(inBucket).toBeGreaterThanOrEqual(2); // busybox: a config and a layer at least
    const blobs = join(String(config.dataDir), "blobs");
    expect(await countFiles(blobs)).toBeGreaterThanOrEqual(inBucket);

    const pool = new Pool({ connectionString: set.databaseUrl, max: 1 });
    try {
      const lease = await tryCollectLease(pool);
      expect(lease, "the test holds the lease").toBeDefined();
      for (const cmd of [["cache", "gc"], ["gc"]]) {
        const busy = await wharfCli(a.w, small, ...cmd);
        expect(busy.code, `wharf ${cmd.join(" ")}: ${busy.stdout}${busy.stderr}`).toBe(75);
        expect(busy.stderr).toContain("another replica is collecting");
      }
      const dry = await wharfCli(a.w, small, "cache", "gc", "--dry-run");
      expect(dry.code, "a dry run needs no lease").toBe(0);
      expect(await countFiles(blobs), "nothing evicted while the lease is held").toBeGreaterThanOrEqual(
        inBucket,
      );
      await lease?.release();
    } finally {
      await pool.end();
    }
    const gc = await wharfCli(a.w, small, "cache", "gc");
    expect(gc.code, gc.stderr).toBe(0);
    const evicted = Number(/(\d+) blob\(s\) evicted/.exec(gc.stdout)?.[1]);
    expect(evicted, gc.stdout).toBeGreaterThanOrEqual(inBucket);
    expect(await countFiles(blobs)).toBe(0);
    expect(await verify(), "the bucket still holds every blob").toBe(inBucket);
    await a.w.stop();
  }, 180_000);
});

describe("replica directory, DNS answers and admin views on Ceph + PostgreSQL", () => {
  it("answers with every healthy replica, shows them, and forgets killed and stopped ones", async () => {
    const [a, b] = await Promise.all([startReplica(), startReplica()]);
    if (!a || !b) throw new Error("two replicas");
    const both = [a.ip, b.ip].sort();

    // each refreshes its view every heartbeat (5 s): wait until both answer with both addresses
    for (const r of [a, b])
      await until(`${r.ip} answering with both`, 15_000, async () =>
        JSON.stringify((await answers(r)).sort()) === JSON.stringify(both) ? true : undefined,
      );
    // answers are rotated per query, so clients spread over the replicas
    const firsts = new Set<string>();
    for (let i = 0; i < 4; i++) firsts.add((await answers(a))[0] ?? "");
    expect([...firsts].sort()).toEqual(both);

    // the admin views: this replica, the other one, their health and the shared stores'
    const s = await status(a);
    expect(s.sharedStore?.bucket?.reachable).toBe(true);
    expect(s.sharedStore?.database?.reachable).toBe(true);
    const rows = s.replicas?.replicas ?? [];
    expect(rows.map((r) => [r.addresses[0], r.state, r.self]).sort()).toEqual(
      [
        [a.ip, "healthy", true],
        [b.ip, "healthy", false],
      ].sort(),
    );
    expect(rows.find((r) => r.self)?.id).toBe(s.replicas?.self.id);
    for (const r of rows) expect(r.seenSecondsAgo).toBeLessThan(15);
    const metrics = await (await fetch(`${a.admin}/metrics`)).text();
    const selfId = s.replicas?.self.id ?? "";
    expect(metrics).toMatch(new RegExp(`wharf_replica_info\\{id="${selfId}",name="[^"]+"\\} 1`));
    expect(metrics.match(/^wharf_replica_healthy\{[^}]*\} 1$/gm)).toHaveLength(2);
    expect(metrics).toMatch(/^wharf_replica_seen_age_seconds\{/m);
    expect(metrics).toMatch(/^wharf_shared_store_up\{store="bucket"\} 1$/m);
    expect(metrics).toMatch(/^wharf_shared_store_up\{store="database"\} 1$/m);
    // the status page renders the same, in Chromium (Debian's, as test/e2e/status-page.test.ts uses)
    const browser = await chromium.launch({
      executablePath: "/usr/bin/chromium",
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        `--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE ${a.ip}`,
      ],
    });
    try {
      const page = await browser.newPage();
      await page.goto(`${a.admin}/`);
      await page.waitForSelector("body[data-loaded]", { timeout: 15_000 });
      expect(await page.isVisible("#replicas")).toBe(true);
      const shown = await page.$$eval("[data-testid=replica]", (rows) =>
        rows.map((r) => [
          r.getAttribute("data-self"),
          r.querySelector("[data-testid=replica-state]")?.textContent,
        ]),
      );
      expect(shown.sort()).toEqual([
        ["false", "healthy"],
        ["true", "healthy"],
      ]);
      expect(await page.textContent("[data-testid=shared-store]")).toBe(
        "Shared stores: bucket: reachable · database: reachable",
      );
    } finally {
      await browser.close();
    }

    const ready = await fetch(`${a.admin}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: "ready" });

    // killed: no clean stop, its row stays until it is three heartbeats old
    b.w.kill("SIGKILL");
    await b.w.exited;
    const killedAt = Date.now();
    await until("the killed replica to leave the answers", 30_000, async () =>
      (await answers(a)).includes(b.ip) ? undefined : true,
    );
    const killedGoneMs = Date.now() - killedAt;
    const gone = (await status(a)).replicas?.replicas.find((r) => r.addresses[0] === b.ip);
    expect(gone?.state).toBe("gone");
    expect(await answers(a)).toEqual([a.ip]);
    // expiry is 15 s after the last heartbeat, seen at the next refresh: 10 to 20 s after the kill
    expect(killedGoneMs).toBeLessThan(21_000);
    expect(killedGoneMs).toBeGreaterThan(9_000);

    // stopped cleanly: its row is deleted, so it leaves at the next refresh
    const c = await startReplica();
    await until("the new replica in the answers", 15_000, async () =>
      (await answers(a)).includes(c.ip) ? true : undefined,
    );
    await c.w.stop();
    const stoppedAt = Date.now();
    await until("the stopped replica to leave the answers", 10_000, async () =>
      (await answers(a)).includes(c.ip) ? undefined : true,
    );
    const stoppedGoneMs = Date.now() - stoppedAt;
    expect((await status(a)).replicas?.replicas.map((r) => r.addresses[0])).not.toContain(c.ip);
    console.log(
      `replica left the DNS answers: killed after ${killedGoneMs} ms, stopped after ${stoppedGoneMs} ms`,
    );

    // the database goes away: the replica stays ready, degraded, and answers with itself
    await pg.stop();
    await until("the database probe to fail", 15_000, async () =>
      (await status(a)).sharedStore?.database?.reachable === false ? true : undefined,
    );
    const degraded = await fetch(`${a.admin}/readyz`);
    expect(degraded.status).toBe(200);
    expect(await degraded.json()).toMatchObject({ status: "degraded", degraded: ["shared.database"] });
    expect(await answers(a)).toEqual([a.ip]);
    expect(await (await fetch(`${a.admin}/metrics`)).text()).toMatch(
      /^wharf_shared_store_up\{store="database"\} 0$/m,
    );
  }, 180_000);
});
