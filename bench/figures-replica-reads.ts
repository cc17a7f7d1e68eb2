// Figures 8e–8g (issue 18): one client reading a layer through a replica whose disk is empty, so
// the replica streams it from the bucket, then three reads from that replica's disk; beside them
// the single node's cold fill of the same layer from upstream and a GetObject straight from RGW,
// and the CPU per GiB of the two first reads (steadier than rates on a shared machine).
import { GetObjectCommand, HeadObjectCommand } from "@aws-sdk/client-s3";
import type { BenchWorld } from "./bench-world.ts";
import { type Download, download } from "./clients.ts";
import { type Figure, GiB, MiB, median, type RunPlan } from "./figure.ts";
import { cpuMeter } from "./proc-tree.ts";
import { fillRepository, getManifest, type Replica, type ReplicaWorld, S3_PREFIX } from "./replica-world.ts";

type Log = (line: string) => void;

/** 8e–8g: one client on a layer a new replica has only in the bucket, then from its own disk. */
export async function replicaReads(
  w: BenchWorld,
  rw: ReplicaWorld,
  plan: RunPlan,
  log: Log,
): Promise<Figure[]> {
  const { digest, size } = w.images.fillLayer;
  const repo = fillRepository(w);
  const shared = await rw.share();
  const check = (d: Download) => {
    if (d.status !== 200 || d.bytes !== size)
      throw new Error(`replica read: ${d.status}, ${d.bytes} of ${size} B`);
    return size / MiB / d.seconds;
  };
  const [seed] = await rw.startReplicas(shared, 1);
  await getManifest(w, seed as Replica, repo);
  check(await download(seed as Replica, w.env, `/v2/${repo}/blobs/${digest}`));
  // the upload follows the local commit: measure once the object is in the bucket, not a wait for it
  const key = `${S3_PREFIX}blobs/sha256/${digest.slice(7)}`;
  for (const deadline = Date.now() + 120_000; ; ) {
    const head = await rw.ceph.client
      .send(new HeadObjectCommand({ Bucket: shared.bucket, Key: key }))
      .catch(() => undefined);
    if (head) break;
    if (Date.now() > deadline) throw new Error("the seed replica did not upload the layer within 120 s");
    await new Promise((r) => setTimeout(r, 200));
  }
  const bucketRate: number[] = [];
  const diskRate: number[] = [];
  const upstreamRate: number[] = [];
  // CPU per GiB of that first read (the replica's process tree; the single node's): steadier than a rate
  const bucketCpu: number[] = [];
  const upstreamCpu: number[] = [];
  const gib = size / GiB;
  const single = w.contenders.find((c) => c.name === "wharf");
  // each run starts a replica with an empty disk; --quick measures once
  for (let run = 0; run < (plan.quick ? 1 : plan.coldRuns); run++) {
    const [r] = (await rw.startReplicas(shared, 1)) as [Replica];
    await getManifest(w, r, repo);
    const path = `/v2/${repo}/blobs/${digest}`;
    const cpu = cpuMeter(() => r.pids());
    bucketRate.push(check(await download(r, w.env, path)));
    bucketCpu.push(cpu() / gib);
    for (let i = 0; i < 3; i++) diskRate.push(check(await download(r, w.env, path)));
    await r.stop();
    // the same first read on the single node, where it is a fill from upstream
    if (single) {
      await single.reset();
      await getManifest(w, single, repo);
      const cpuAlone = cpuMeter(() => single.pids());
      upstreamRate.push(check(await download(single, w.env, path)));
      upstreamCpu.push(cpuAlone() / gib);
    }
    log(
      `replica read run ${run + 1}: bucket ${bucketRate.at(-1)?.toFixed(0)} MiB/s, disk ${diskRate.at(-1)?.toFixed(0)} MiB/s, ` +
        `1 node from upstream ${upstreamRate.at(-1)?.toFixed(0)} MiB/s`,
    );
  }
  // the reference: the same object read straight from RGW with the SDK wharf uses, no wharf in between
  const rgwRate: number[] = [];
  for (let run = 0; run < (plan.quick ? 1 : plan.coldRuns); run++) {
    const started = performance.now();
    const res = await rw.ceph.client.send(new GetObjectCommand({ Bucket: shared.bucket, Key: key }));
    let bytes = 0;
    for await (const chunk of res.Body as AsyncIterable<Uint8Array>) bytes += chunk.length;
    const seconds = (performance.now() - started) / 1000;
    rgwRate.push(check({ status: res.$metadata.httpStatusCode ?? 0, bytes, seconds }));
  }
  log(`RGW alone: ${median(rgwRate).toFixed(0)} MiB/s`);
  await seed?.stop();
  const mib = `${Math.round(size / MiB)} MiB`;
  return [
    {
      id: "8e",
      title: `warm ${mib} layer, 1 client, from a replica's local disk`,
      unit: "MiB/s",
      better: "higher",
      values: { wharf: median(diskRate) },
    },
    {
      id: "8f",
      title: `the same layer, 1 client, from a replica with an empty disk (streamed from the bucket)`,
      unit: "MiB/s",
      better: "higher",
      values: { wharf: median(bucketRate) },
      cells: {
        wharf:
          `${median(bucketRate).toFixed(0)} (1 node, a cold fill from upstream: ${median(upstreamRate).toFixed(0)}; ` +
          `RGW alone, GetObject in the bench process: ${median(rgwRate).toFixed(0)})`,
      },
    },
    {
      id: "8g",
      title: "server CPU per GiB of 8f's read from the bucket (the replica; Ceph's own CPU not included)",
      unit: "s/GiB",
      better: "lower",
      values: { wharf: median(bucketCpu) },
      cells: {
        wharf: `${median(bucketCpu).toFixed(2)} (1 node, a cold fill from upstream: ${median(upstreamCpu).toFixed(2)})`,
      },
    },
  ];
}
