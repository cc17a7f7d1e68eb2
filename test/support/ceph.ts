// A throwaway single-node Ceph for tests: one monitor, one OSD on memstore (data in its RAM) and
// the RADOS Gateway (S3) on a loopbackIp() address, from Debian's packages (ceph-rgw.md in the
// shared notes has the recipe and its figures: ready in about 2 s). No auth inside the cluster;
// S3 requests are signed with a test user's keys. Every daemon is a child of this worker and is
// SIGKILLed by stop() (the data is throwaway) or by the exit hooks when the worker dies.
import { randomBytes, randomUUID } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { type OwnedProcess, spawnOwned, tailFile } from "./owned-process.ts";
import { loopbackIp } from "./ports.ts";
import { runCommand } from "./run-command.ts";
import { findBinary } from "./system-packages.ts";
import { makeTempDir, type TempDir } from "./temp-dir.ts";
import { waitForHttp } from "./wait-http.ts";

const CEPH_BINARIES = ["ceph-mon", "ceph-osd", "radosgw", "ceph", "radosgw-admin", "monmaptool"];
const CEPH_PACKAGES = ["ceph-mon", "ceph-osd", "radosgw", "ceph-common"];

export interface Ceph {
  ip: string;
  /** http://ip:port of the RADOS Gateway. */
  endpoint: string;
  accessKey: string;
  secretKey: string;
  dir: string;
  /** A client as wharf configures its own (checksums only where required: RGW 16 needs that). */
  client: S3Client;
  /** A fresh, empty bucket (one per test). */
  createBucket(): Promise<string>;
  /** The PIDs of mon, osd and rgw. */
  pids(): number[];
  logTail(): string;
  stop(): Promise<void>;
}

/** Installs the Ceph packages when missing (not part of the common set: only these tests need them). */
export async function ensureCephPackages(): Promise<void> {
  if (CEPH_BINARIES.every((b) => findBinary(b))) return;
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  try {
    await runCommand(["apt-get", "update"], { env, timeoutMs: 300_000 });
    await runCommand(["apt-get", "install", "-y", "--no-install-recommends", ...CEPH_PACKAGES], {
      env,
      timeoutMs: 900_000,
    });
  } catch (e) {
    throw new Error(
      `the S3 tests need Ceph (${CEPH_PACKAGES.join(" ")}); apt-get failed:\n${(e as Error).message}`,
    );
  }
  const still = CEPH_BINARIES.filter((b) => !findBinary(b));
  if (still.length > 0) throw new Error(`still missing after apt-get install: ${still.join(", ")}`);
}

function cephConf(d: string, ip: string, fsid: string, rgwPort: number): string {
  return `[global]
fsid = ${fsid}
mon host = [v2:${ip}:3300,v1:${ip}:6789]
public addr = ${ip}
cluster addr = ${ip}
auth cluster required = none
auth service required = none
auth client required = none
run dir = ${d}/run
admin socket = ${d}/run/$name.asok
pid file = ${d}/run/$name.pid
log file = ${d}/log/$name.log
mon cluster log to file = false
crash dir = ${d}/crash
mon data = ${d}/mon/$id
osd data = ${d}/osd/$id
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
mon data avail warn = 2
mon data avail crit = 1
osd crush chooseleaf type = 0
paxos propose interval = 0.05
mon osd crush smoke test = false
osd fast shutdown notify mon = false
[osd]
osd objectstore = memstore
memstore device bytes = 2147483648
[client.rgw.a]
rgw frontends = beast endpoint=${ip}:${rgwPort}
rgw data = ${d}/rgw
auth client required = none
ms mon client mode = crc
`;
}

/** Starts mon, OSD and RGW; resolves once S3 answers (bounded: about 2 s normally, 60 s at most). */
export async function startCeph(): Promise<Ceph> {
  await ensureCephPackages();
  const ip = loopbackIp();
  const rgwPort = 7480;
  const tmp: TempDir = await makeTempDir("wharf-ceph-");
  const d = tmp.path;
  for (const sub of ["mon", "osd", "run", "log", "rgw", "crash"])
    await mkdir(join(d, sub), { recursive: true });
  const fsid = randomUUID();
  await writeFile(join(d, "ceph.conf"), cephConf(d, ip, fsid, rgwPort));
  const C = ["--cluster", "ceph", "--conf", join(d, "ceph.conf")];
  const procs: OwnedProcess[] = [];
  const log = (name: string) => join(d, "log", `${name}.out`);
  const logTail = () => ["mon", "osd", "rgw"].map((n) => `--- ${n}\n${tailFile(log(n), 10)}`).join("\n");
  const stop = async () => {
    for (const p of procs) p.kill("SIGKILL");
    await Promise.all(procs.map((p) => p.exited));
    await tmp.remove();
  };
  try {
    await runCommand([
      "monmaptool",
      "--create",
      "--fsid",
      fsid,
      "--addv",
      "a",
      `[v2:${ip}:3300,v1:${ip}:6789]`,
      join(d, "monmap"),
    ]);
    await runCommand(["ceph-mon", ...C, "--id", "a", "--mkfs", "--monmap", join(d, "monmap")]);
    procs.push(
      spawnOwned(["ceph-mon", ...C, "--id", "a", "-f"], { stdoutFile: log("mon"), stderrFile: log("mon") }),
    );
    await runCommand(["ceph", ...C, "-s", "--connect-timeout", "20"], { timeoutMs: 30_000 });
    const osdUuid = randomUUID();
    const osdId = (
      await runCommand(["ceph", ...C, "osd", "new", osdUuid], { timeoutMs: 30_000 })
    ).stdout.trim();
    await mkdir(join(d, "osd", osdId), { recursive: true });
    await runCommand(["ceph-osd", ...C, "--id", osdId, "--mkfs", "--osd-uuid", osdUuid], {
      timeoutMs: 30_000,
    });
    procs.push(
      spawnOwned(["ceph-osd", ...C, "--id", osdId, "-f"], { stdoutFile: log("osd"), stderrFile: log("osd") }),
    );
    const deadline = Date.now() + 30_000;
    for (;;) {
      const s = await runCommand(["ceph", ...C, "osd", "stat", "-f", "json"], {
        allowFailure: true,
        timeoutMs: 10_000,
      });
      if (s.stdout.includes('"num_up_osds":1')) break;
      if (Date.now() > deadline) throw new Error("the OSD did not come up");
      await new Promise((r) => setTimeout(r, 200));
    }
    const accessKey = `AK${randomBytes(8).toString("hex").toUpperCase()}`;
    const secretKey = randomBytes(20).toString("hex");
    await runCommand(
      [
        "radosgw-admin",
        ...C,
        "user",
        "create",
        "--uid=test",
        "--display-name=test",
        `--access-key=${accessKey}`,
        `--secret=${secretKey}`,
      ],
      { timeoutMs: 30_000 },
    );
    const rgw = spawnOwned(["radosgw", ...C, "-n", "client.rgw.a", "-f"], {
      stdoutFile: log("rgw"),
      stderrFile: log("rgw"),
    });
    procs.push(rgw);
    const endpoint = `http://${ip}:${rgwPort}`;
    await waitForHttp(`${endpoint}/`, {
      accept: (s) => s === 200,
      alive: rgw.alive,
      timeoutMs: 30_000,
      describe: logTail,
    });
    const client = new S3Client({
      endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: accessKey, secretAccessKey: secretKey },
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
    let buckets = 0;
    return {
      ip,
      endpoint,
      accessKey,
      secretKey,
      dir: d,
      client,
      async createBucket() {
        const name = `t${process.pid}-${++buckets}-${randomBytes(3).toString("hex")}`;
        await client.send(new CreateBucketCommand({ Bucket: name }));
        return name;
      },
      pids: () => procs.map((p) => p.pid),
      logTail,
      async stop() {
        client.destroy();
        await stop();
      },
    };
  } catch (e) {
    const tail = logTail();
    await stop();
    throw new Error(`Ceph did not start: ${(e as Error).message}\n${tail}`);
  }
}
