// The soak's clients. Every download that succeeds is checked against the bytes pushed to the
// upstream (digest, or the exact slice for a range): a mismatch is a "wrong" result, the one thing
// the soak never tolerates. Errors (5xx, resets, timeouts) are expected while faults are injected
// and are only counted. Every loop is bounded by a deadline and a round count.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { Agent, request } from "undici";
import { runCommand } from "../test/support/run-command.ts";
import { runSkopeo } from "../test/support/skopeo.ts";
import { REPO_ROOT } from "../test/support/wharf-process.ts";
import { MANIFEST_ACCEPT } from "./clients.ts";
import { type SoakBlob, type SoakImage, type SoakWorld, STORM_REGISTRY } from "./soak-world.ts";

export const WORKLOADS = ["pull", "storm", "range", "stall", "skopeo", "gc", "fault"] as const;
export type Workload = (typeof WORKLOADS)[number];

export interface Tally {
  ok: number;
  errors: number;
  wrong: number;
}

/** Counts per workload, plus the first wrong deliveries and the most common error kinds. */
export class Tallies {
  readonly by = Object.fromEntries(WORKLOADS.map((w) => [w, { ok: 0, errors: 0, wrong: 0 }])) as Record<
    Workload,
    Tally
  >;
  readonly wrongDetails: string[] = [];
  readonly errorKinds = new Map<string, number>();

  ok(w: Workload): void {
    this.by[w].ok++;
  }
  error(w: Workload, kind: string): void {
    this.by[w].errors++;
    const key = `${w}: ${kind}`;
    this.errorKinds.set(key, (this.errorKinds.get(key) ?? 0) + 1);
  }
  wrong(w: Workload, detail: string): void {
    this.by[w].wrong++;
    if (this.wrongDetails.length < 20) this.wrongDetails.push(`${w}: ${detail}`);
  }
  total(): Tally {
    const t = { ok: 0, errors: 0, wrong: 0 };
    for (const x of Object.values(this.by)) {
      t.ok += x.ok;
      t.errors += x.errors;
      t.wrong += x.wrong;
    }
    return t;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pick = <T>(list: readonly T[]): T => list[Math.floor(Math.random() * list.length)] as T;
const errorKind = (e: unknown) =>
  (e as { code?: string }).code ?? (e as Error).name ?? String(e).slice(0, 40);

/** Runs `body` until the deadline or `maxRounds`, pausing `pauseMs` between rounds. */
async function loop(
  deadline: number,
  maxRounds: number,
  pauseMs: number,
  body: (round: number) => Promise<void>,
): Promise<void> {
  for (let round = 0; round < maxRounds && Date.now() < deadline; round++) {
    await body(round);
    await sleep(Math.min(pauseMs, Math.max(0, deadline - Date.now())));
  }
}

export interface SoakPlan {
  deadline: number;
  pullWorkers: number;
  stormSize: number;
  stallSockets: number;
  stallHoldMs: number;
}

export class SoakClients {
  readonly tallies = new Tallies();
  readonly #w: SoakWorld;
  readonly #base: string;
  readonly #agent = new Agent({ connections: 64, headersTimeout: 60_000, bodyTimeout: 60_000 });
  readonly #sockets = new Set<import("node:net").Socket>();

  constructor(world: SoakWorld) {
    this.#w = world;
    this.#base = world.wharf.httpUrl;
  }

  /** GETs `path` and checks the body against `want`; any non-200 answer is an error, never a success. */
  async #getVerified(w: Workload, path: string, want: SoakBlob, accept?: string): Promise<void> {
    try {
      const res = await request(`${this.#base}${path}`, {
        dispatcher: this.#agent,
        headers: accept ? { accept } : {},
        signal: AbortSignal.timeout(90_000),
      });
      if (res.statusCode !== 200) {
        await res.body.dump();
        this.tallies.error(w, `HTTP ${res.statusCode}`);
        return;
      }
      const hash = createHash("sha256");
      let n = 0;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        hash.update(chunk);
        n += chunk.length;
      }
      const got = `sha256:${hash.digest("hex")}`;
      if (got === want.digest) this.tallies.ok(w);
      else this.tallies.wrong(w, `GET ${path}: 200 with ${n} bytes hashing to ${got}`);
    } catch (e) {
      this.tallies.error(w, errorKind(e));
    }
  }

  /** Manifest, config and layer of a random image, each verified. */
  async pulls(plan: SoakPlan): Promise<void> {
    await Promise.all(
      Array.from({ length: plan.pullWorkers }, () =>
        loop(plan.deadline, 10_000, 200, async () => {
          const img = pick(this.#w.images);
          const v2 = `/v2/${img.repository}`;
          await this.#getVerified("pull", `${v2}/manifests/${img.tag}`, img.manifest, MANIFEST_ACCEPT);
          await this.#getVerified("pull", `${v2}/blobs/${img.config.digest}`, img.config);
          await this.#getVerified("pull", `${v2}/blobs/${img.layer.digest}`, img.layer);
        }),
      ),
    );
  }

  /** `stormSize` concurrent manifest GETs of one tag of the tagTtl-0 registry, every 3 s. */
  async storms(plan: SoakPlan): Promise<void> {
    await loop(plan.deadline, 1000, 3000, async () => {
      const img = pick(this.#w.images);
      const path = `/v2/${STORM_REGISTRY}/${img.repository}/manifests/${img.tag}`;
      await Promise.all(
        Array.from({ length: plan.stormSize }, () =>
          this.#getVerified("storm", path, img.manifest, MANIFEST_ACCEPT),
        ),
      );
    });
  }

  /** `curl -r` over a random slice of a layer; 206 must be exactly that slice, 200 the whole blob. */
  async ranges(plan: SoakPlan, workers = 2): Promise<void> {
    await Promise.all(
      Array.from({ length: workers }, () =>
        loop(plan.deadline, 10_000, 300, () => {
          const img = pick(this.#w.images);
          const start = Math.floor(Math.random() * img.layer.bytes.length);
          return this.#range(img, start, start + Math.floor(Math.random() * 65_536));
        }),
      ),
    );
  }

  async #range(img: SoakImage, start: number, last: number): Promise<void> {
    const size = img.layer.bytes.length;
    const end = Math.min(size - 1, last);
    const path = `/v2/${img.repository}/blobs/${img.layer.digest}`;
    const argv = ["-sS", "--noproxy", "*", "--max-time", "60", "-r", `${start}-${end}`];
    const r = await new Promise<{ code: number; out: Buffer; err: string }>((resolve) => {
      execFile(
        "curl",
        [...argv, "-o", "-", "-w", "%{stderr}%{http_code}", `${this.#base}${path}`],
        { encoding: "buffer", maxBuffer: 256 * 1024 * 1024, timeout: 70_000 },
        (e, out, err) =>
          resolve({ code: e ? Number((e as { code?: number }).code ?? 1) : 0, out, err: err.toString() }),
      );
    });
    const status = Number(r.err.trim().split("\n").pop());
    if (r.code !== 0) return this.tallies.error("range", `curl exit ${r.code}`);
    const want =
      status === 206 ? img.layer.bytes.subarray(start, end + 1) : status === 200 ? img.layer.bytes : null;
    if (!want) return this.tallies.error("range", `HTTP ${status}`);
    if (want.equals(r.out)) return this.tallies.ok("range");
    this.tallies.wrong(
      "range",
      `curl -r ${start}-${end} ${path}: ${status} with ${r.out.length} wrong bytes`,
    );
  }

  /** Raw sockets that request a layer and never read, held `stallHoldMs`, then closed. */
  async stalls(plan: SoakPlan): Promise<void> {
    const url = new URL(this.#base);
    const hold = async () => {
      const img = pick(this.#w.images);
      const socket = connect({ host: url.hostname, port: Number(url.port) });
      this.#sockets.add(socket);
      socket.on("error", () => {});
      socket.write(
        `GET /v2/${img.repository}/blobs/${img.layer.digest} HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`,
      );
      socket.pause(); // never read: the server's send buffer fills and stays full
      await sleep(Math.min(plan.stallHoldMs, Math.max(0, plan.deadline - Date.now())));
      // dropped by wharf or still open, both are fine: what it costs shows in the fd samples
      this.tallies.ok("stall");
      socket.destroy();
      this.#sockets.delete(socket);
    };
    await loop(plan.deadline, 1000, 500, async () => {
      await Promise.all(Array.from({ length: plan.stallSockets }, hold));
    });
  }

  /** skopeo pulls through wharf's HTTP listener (skopeo checks every digest itself). */
  async skopeo(plan: SoakPlan): Promise<void> {
    const host = new URL(this.#base).host;
    await loop(plan.deadline, 1000, 5000, async () => {
      const img = pick(this.#w.images);
      const dest = await mkdtemp(join(this.#w.scratch, "skopeo-"));
      try {
        const ref = `docker://${host}/${img.repository}:${img.tag}`;
        await runSkopeo(["copy", "--src-tls-verify=false", "--retry-times", "0", ref, `dir:${dest}`]);
        this.tallies.ok("skopeo");
      } catch {
        this.tallies.error("skopeo", "copy failed");
      } finally {
        await rm(dest, { recursive: true, force: true });
      }
    });
  }

  /** `wharf cache gc` beside the running server, every 15 s. */
  async gc(plan: SoakPlan): Promise<void> {
    const node = join(REPO_ROOT, "node_modules", ".bin", "node");
    await loop(plan.deadline, 1000, 15_000, async () => {
      const r = await runCommand(
        [node, join(REPO_ROOT, "bin", "wharf.mjs"), "cache", "gc", "--config", this.#w.configFile],
        { allowFailure: true, timeoutMs: 120_000, cwd: REPO_ROOT },
      );
      if (r.code === 0) this.tallies.ok("gc");
      else this.tallies.error("gc", `exit ${r.code}: ${r.stderr.trim().split("\n").pop()?.slice(0, 80)}`);
    });
  }

  /** Upstream faults in turn: a tampered layer, 503s, 429 + Retry-After, slow answers, a cut body. */
  async faults(plan: SoakPlan): Promise<void> {
    const p = this.#w.proxy;
    const probes: Promise<void>[] = [];
    const kinds = [
      // a tampered layer, and at once a range over the flipped (middle) byte: if the layer is not
      // cached, only verified bytes may answer it (issue 13, item 2)
      () => {
        const img = pick(this.#w.images);
        p.setRule(img.layer.digest, { kind: "corrupt", times: 2 });
        const mid = Math.floor(img.layer.bytes.length / 2);
        probes.push(this.#range(img, mid - 10, mid + 9));
      },
      () => p.setRule("*", { kind: "status", status: 503, times: 4 }),
      () => p.setRule("*", { kind: "status", status: 429, headers: { "retry-after": "1" }, times: 4 }),
      () => p.setRule("*", { kind: "delay", ms: 3000, times: 4 }),
      () => p.setRule(pick(this.#w.images).layer.digest, { kind: "truncate", times: 2 }),
    ];
    await loop(plan.deadline, 10_000, 6000, async (round) => {
      kinds[round % kinds.length]?.();
      this.tallies.ok("fault");
    });
    await Promise.all(probes);
    p.clear();
  }

  #stopped = false;

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
    this.#w.proxy.clear();
    await this.#agent.destroy().catch(() => {});
  }
}
