// Issue 18, the managed mirror in a replica set: three wharf replicas on one bucket of a real
// single-node Ceph, sharing their metadata in a real PostgreSQL, with a real docker-registry
// upstream behind the counting proxy. The scheduled sync of an entry runs on one replica only; the
// `wharf mirror` CLI run beside one replica changes what every replica answers for the unchanged
// upstream name (serveUpstreamName): a sync from replica 1's host and a pin from replica 3's host
// are seen by a skopeo pull through replica 2. The target itself is a hosted registry shared by the
// set: its name pulls the synced, then the pinned digest through a replica that did neither, and
// the whole image (every blob read from the bucket) copies through it.
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MirrorEntryStatus } from "../../gateway/mirror/mirror-service.ts";
import type { TagReport } from "../../gateway/mirror/sync-runner.ts";
import { type Ceph, startCeph } from "../support/ceph.ts";
import { readManifestDigests } from "../support/images.ts";
import {
  type LoopbackInternet,
  PRIVATE_PASSWORD,
  PRIVATE_USER,
  startLoopbackInternet,
} from "../support/loopback-internet.ts";
import { type Postgres, startPostgres } from "../support/postgres.ts";
import { createReplicaSet, type ReplicaSet, replicaEnv } from "../support/replica-set.ts";
import { pushLayout, runSkopeo } from "../support/skopeo.ts";
import { runWharfCli, type WharfProcess } from "../support/wharf-process.ts";

const TARGET = "registry.internal/library/alpine";

let ceph: Ceph;
let pg: Postgres;
let net: LoopbackInternet;
let set: ReplicaSet;
let replicas: WharfProcess[] = [];

const sha256 = (s: string) => `sha256:${createHash("sha256").update(s).digest("hex")}`;

/** `wharf mirror …` beside replica `w`, with its config and the set's storage secrets. */
async function cli(w: WharfProcess, ...args: string[]) {
  const r = await runWharfCli(w, ["mirror", ...args], {
    env: replicaEnv(ceph, set.databaseUrl),
    timeoutMs: 120_000,
  });
  if (r.code !== 0)
    throw new Error(`wharf mirror ${args.join(" ")}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** Upstream publishes image `tag` of the test layout as library/alpine:3.20. */
async function release(tag: "busybox" | "multi"): Promise<string> {
  await pushLayout(tag, `${new URL(net.hub.url).host}/library/alpine:3.20`, {
    certDir: net.ca.certDir,
    creds: `${PRIVATE_USER}:${PRIVATE_PASSWORD}`,
  });
  return readManifestDigests(tag).manifest;
}

/** The digest of what a client pulling the upstream name alpine:3.20 through `w` gets. */
async function pulledDigest(w: WharfProcess): Promise<string> {
  const host = new URL(w.httpUrl).host;
  const r = await runSkopeo([
    "inspect",
    "--raw",
    "--tls-verify=false",
    `docker://${host}/docker.io/library/alpine:3.20`,
  ]);
  return sha256(r.stdout);
}

/** The digest of what a client pulling the target name registry.internal/library/alpine:3.20 gets. */
async function targetDigest(w: WharfProcess, tag = "3.20"): Promise<string> {
  const host = new URL(w.httpUrl).host;
  const r = await runSkopeo(["inspect", "--raw", "--tls-verify=false", `docker://${host}/${TARGET}:${tag}`]);
  return sha256(r.stdout);
}

async function eventually<T>(
  what: string,
  get: () => Promise<T>,
  ok: (v: T) => boolean,
  ms = 20_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`${what}: still ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const alpineHeads = (since: number) =>
  net.hubProxy
    .requests(since)
    // answered ones: the first of a sync may be a 401 that the token dance repeats
    .filter((r) => r.method === "HEAD" && r.path === "/v2/library/alpine/manifests/3.20" && r.status === 200)
    .length;

beforeAll(async () => {
  [ceph, pg, net] = await Promise.all([
    startCeph(),
    startPostgres(),
    startLoopbackInternet({ push: ["busybox", "multi"] }),
  ]);
  set = await createReplicaSet(ceph, pg, net);
}, 240_000);

afterAll(async () => {
  for (const w of replicas) await w.stop().catch(() => {});
  await net?.stop();
  await pg?.stop();
  await ceph?.stop();
});

describe("the managed mirror on three replicas sharing PostgreSQL", () => {
  it("a scheduled sync runs on one replica; a CLI sync and pin beside any replica reach every replica's pulls", async () => {
    const first = await release("busybox");
    const mark = net.hubProxy.mark();
    const extra = {
      registries: {
        "docker.io": { upstream: net.hubProxy.url },
        "registry.internal": { hosted: {} },
      },
      mirror: [
        {
          source: "docker.io/library/alpine",
          tags: ["3.20"],
          target: TARGET,
          schedule: "1h",
          serveUpstreamName: true,
        },
      ],
    };
    replicas = await Promise.all([set.start(extra), set.start(extra), set.start(extra)]);
    const [one, two, three] = replicas as [WharfProcess, WharfProcess, WharfProcess];

    // every replica is due at once (never synced): one of them syncs, the others skip
    const ls = await eventually(
      "the scheduled sync",
      async () => JSON.parse(await cli(three, "ls", "--json")) as MirrorEntryStatus[],
      (s) => s[0]?.lastSuccess !== null && s[0]?.tags[0]?.current === first,
      60_000,
    );
    expect(ls[0]?.changesTotal).toBe(1);
    await new Promise((r) => setTimeout(r, 2000)); // time for a late second sync to show
    expect(alpineHeads(mark), "upstream HEADs of alpine:3.20: one sync in the replica set").toBe(1);
    const skipped = replicas.filter((w) => /mirror sync skipped/.test(w.logs().stdout + w.logs().stderr));
    expect(skipped.length, "replicas that logged the skip").toBe(2);
    for (const w of replicas) expect(await pulledDigest(w)).toBe(first);
    for (const w of replicas) expect(await targetDigest(w), `target through ${w.httpUrl}`).toBe(first);

    // upstream moves; `wharf mirror sync` beside replica 1 copies it, replica 2's pulls follow
    const second = await release("multi");
    const sync = JSON.parse(await cli(one, "sync", "--json")) as { ok: boolean; tags: TagReport[] };
    expect(sync.tags[0]).toMatchObject({ changed: true, previous: first, current: second });
    await eventually(
      "replica 2 following the sync",
      () => pulledDigest(two),
      (d) => d === second,
    );
    // the target's tag moved in the shared index: no waiting for any replica
    for (const w of [two, three]) expect(await targetDigest(w), `target through ${w.httpUrl}`).toBe(second);

    // `wharf mirror pin --to` the first release beside replica 3: replica 2's pulls get it, though
    // upstream still points at the second
    const pinned = await cli(three, "pin", `${TARGET}:3.20`, "--to", first);
    expect(pinned).toContain(`pinned at ${first}`);
    await eventually(
      "replica 2 following the pin",
      () => pulledDigest(two),
      (d) => d === first,
      5_000,
    );
    // replica 1 follows on its own poll (about a second; later on a loaded machine)
    await eventually(
      "replica 1 following the pin",
      () => pulledDigest(one),
      (d) => d === first,
      5_000,
    );
    for (const w of [one, two]) expect(await targetDigest(w), `target through ${w.httpUrl}`).toBe(first);
    // the whole pinned image through replica 2, which neither synced nor pinned
    const dir = await mkdtemp(join(tmpdir(), "wharf-replicas-mirror-"));
    try {
      await runSkopeo([
        "copy",
        "--all",
        "--src-tls-verify=false",
        `docker://${new URL(two.httpUrl).host}/${TARGET}:3.20`,
        `dir:${dir}`,
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }

    // the history, asked beside replica 2, is the shared one
    const history = JSON.parse(await cli(two, "history", `${TARGET}:3.20`, "--json")) as {
      current: string;
      record: { pinnedDigest: string };
      history: { digest: string; reason: string }[];
    };
    expect(history.current).toBe(first);
    expect(history.record.pinnedDigest).toBe(first);
    expect(history.history.map((h) => [h.digest, h.reason])).toEqual([
      [second, "pin"],
      [first, "sync"],
    ]);
    // and so are the history tags: the one the pin made pulls the second release anywhere
    const made = (history.history[0] as { historyTag?: string }).historyTag;
    expect(made).toBeDefined();
    expect(await targetDigest(three, made)).toBe(second);
  }, 300_000);
});
