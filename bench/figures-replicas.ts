// Figure 8 (issue 18): three wharf replicas on one bucket of a real Ceph with their metadata in a
// real PostgreSQL (replica-world.ts). 8a/8b: 32 clients spread over the three replicas on one layer
// none of them has, against the single wharf node of the bench in the same run; 8c/8d: S3 requests
// of a pull through a replica, cold (nothing in the bucket) and warm (the same image through
// another replica, whose disk is empty), counted by a proxy in front of RGW (s3-counter.ts);
// 8e–8g (figures-replica-reads.ts): reads from a replica's disk and from the bucket. Only the wharf
// column is filled: the other contenders have no replicas.
import { loopbackIp } from "../test/support/ports.ts";
import type { BenchWorld } from "./bench-world.ts";
import { type Download, download, skopeoPull } from "./clients.ts";
import type { Contender } from "./contenders.ts";
import { type Figure, MiB, median, type RunPlan } from "./figure.ts";
import { replicaReads } from "./figures-replica-reads.ts";
import {
  fillRepository,
  getManifest,
  type Replica,
  type ReplicaWorld,
  S3_PREFIX,
  startReplicaWorld,
} from "./replica-world.ts";
import { describeRequests, type S3Request, startS3Counter } from "./s3-counter.ts";
import { UpstreamLog } from "./upstream-log.ts";

type Log = (line: string) => void;

const REPLICAS = 3;

interface Fill {
  seconds: number;
  /** Time to the last client of each node. */
  perNode: number[];
  /** Upstream body bytes of the layer ÷ its size. */
  upstream: number;
  bad: number;
}

/** `clients` digest-checked downloads of the fill layer, client i on node i mod n; each node first reads the manifest. */
async function fill(w: BenchWorld, nodes: Contender[], clients: number): Promise<Fill> {
  const { digest, size } = w.images.fillLayer;
  const repo = fillRepository(w);
  // one after the other: a replica takes the tag from PostgreSQL, the manifest from the bucket
  for (const c of nodes) await getManifest(w, c, repo);
  const ul = new UpstreamLog(`${w.upstream.dir}/access.log`);
  await ul.settle(200);
  const mark = ul.mark();
  const started = performance.now();
  const results: Download[] = await Promise.all(
    Array.from({ length: clients }, (_, i) =>
      download(nodes[i % nodes.length] as Contender, w.env, `/v2/${repo}/blobs/${digest}`, { digest: true }),
    ),
  );
  const seconds = (performance.now() - started) / 1000;
  await ul.settle();
  const bad = results.filter((r) => r.status !== 200 || r.bytes !== size || r.digest !== digest).length;
  const perNode = nodes.map((_, n) =>
    Math.max(...results.filter((_, i) => i % nodes.length === n).map((r) => r.seconds)),
  );
  return { seconds, perNode, upstream: ul.blobBytes(digest, mark) / size, bad };
}

/** 8a, 8b: the fill across three replicas and on the single node, `fillRuns` times each. */
async function fills(w: BenchWorld, rw: ReplicaWorld, plan: RunPlan, log: Log): Promise<Figure[]> {
  const single = w.contenders.find((c) => c.name === "wharf");
  const across: Fill[] = [];
  const alone: Fill[] = [];
  for (let run = 0; run < plan.fillRuns; run++) {
    const set = await rw.startReplicas(await rw.share(), REPLICAS);
    const f = await fill(w, set, plan.fillClients);
    across.push(f);
    for (const r of set) await r.stop();
    log(
      `replica fill run ${run + 1}: ${f.seconds.toFixed(2)} s (per replica ${f.perNode.map((x) => x.toFixed(1)).join(" / ")}), upstream ${f.upstream.toFixed(2)}×, ${f.bad} bad`,
    );
    if (single) {
      await single.reset();
      const g = await fill(w, [single], plan.fillClients);
      alone.push(g);
      log(`single-node fill run ${run + 1}: ${g.seconds.toFixed(2)} s, upstream ${g.upstream.toFixed(2)}×`);
    }
  }
  const mib = Math.round(w.images.fillLayer.size / MiB);
  const title = `${plan.fillClients} clients over ${REPLICAS} replicas on Ceph, one uncached ${mib} MiB layer`;
  const sum = (fs: Fill[], k: "bad") => fs.reduce((s, f) => s + f[k], 0);
  const up = median(across.map((f) => f.upstream));
  const upAlone = median(alone.map((f) => f.upstream));
  const badNote = (n: number) => (n ? `, ${n} bad` : ", every client verified");
  const bytes: Figure = {
    id: "8a",
    title: `${title}: upstream bytes ÷ layer size`,
    unit: "×",
    better: "lower",
    values: { wharf: up },
    cells: {
      wharf: `${up.toFixed(2)}×${badNote(sum(across, "bad"))} (1 node: ${upAlone.toFixed(2)}×${badNote(sum(alone, "bad"))})`,
    },
    target: "replicas = 1.0×, every client verified",
    holds: across.every((f) => f.upstream === 1 && f.bad === 0),
  };
  const t = median(across.map((f) => f.seconds));
  // per replica, from the run whose time is the median: the lease holder's clients finish first
  const mid = across.find((f) => f.seconds === t) ?? across[0];
  const each = mid?.perNode.map((x) => `${x.toFixed(1)}`).join(" / ") ?? "";
  const tAlone = median(alone.map((f) => f.seconds));
  const last: Figure = {
    id: "8b",
    title: `${title}: time to the last client`,
    unit: "s",
    better: "lower",
    values: { wharf: t },
    cells: {
      wharf: `${t.toFixed(2)} s (replicas' last clients ${each} s; 1 node: ${tAlone.toFixed(2)} s, ${(t / tAlone).toFixed(2)}×)`,
    },
  };
  return [bytes, last];
}

/** 8c, 8d: S3 requests of a skopeo pull of the many-layer image, cold via replica 1, then via replica 2. */
async function requestsPerPull(w: BenchWorld, rw: ReplicaWorld, log: Log): Promise<Figure[]> {
  const counter = await startS3Counter(loopbackIp(), rw.ceph.endpoint, S3_PREFIX);
  try {
    const set = await rw.startReplicas({ ...(await rw.share()), endpoint: counter.endpoint }, 2);
    const [one, two] = set as [Replica, Replica];
    const ref = w.images.refs.many as string;
    const count = async (c: Contender): Promise<S3Request[]> => {
      await counter.settle(300);
      const mark = counter.mark();
      await skopeoPull(c, w.env, ref);
      // uploads and lease releases follow the pull: they are part of what it cost
      await counter.settle(1000);
      return counter.since(mark);
    };
    const cold = await count(one);
    const warm = await count(two);
    const again = await count(two);
    for (const r of set) await r.stop();
    log(`S3 requests: cold ${describeRequests(cold)}; warm ${describeRequests(warm)}; again ${again.length}`);
    const failed = (rs: S3Request[]) => rs.filter((r) => r.status >= 500 || r.status === 0).length;
    const fig = (id: string, what: string, rs: S3Request[], note = ""): Figure => ({
      id,
      title: `S3 requests, skopeo pull of the 40-layer image, ${what}`,
      unit: "requests",
      better: "lower",
      values: { wharf: rs.length },
      cells: { wharf: `${describeRequests(rs)}${failed(rs) ? `, ${failed(rs)} failed` : ""}${note}` },
    });
    return [
      fig("8c", "cold, through replica 1 (nothing in the bucket)", cold),
      fig(
        "8d",
        "warm, the same image through replica 2 (empty disk)",
        warm,
        `; then again through replica 2: ${again.length}`,
      ),
    ];
  } finally {
    await counter.stop();
  }
}

/** Figure 8; Ceph and PostgreSQL run only while it is measured. */
export async function replicaFigures(w: BenchWorld, plan: RunPlan, log: Log): Promise<Figure[]> {
  // replicas of wharf, compared with the single wharf node: nothing to measure with --only others
  if (!w.contenders.some((c) => c.name === "wharf")) return [];
  const started = performance.now();
  const rw = await startReplicaWorld(w);
  log(`Ceph and PostgreSQL ready in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  try {
    return [
      ...(await fills(w, rw, plan, log)),
      ...(await requestsPerPull(w, rw, log)),
      ...(await replicaReads(w, rw, plan, log)),
    ];
  } finally {
    await rw.stop();
  }
}
