// Test support for dns/: a real upstream resolver (Debian's dnsmasq) on a free loopback port, dig
// as the client, and raw UDP/TCP exchanges. Everything stays on 127.0.0.0/8: dig always gets an
// explicit server, and dnsmasq runs with --no-resolv, so neither ever asks the machine's resolver.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { access, mkdtemp, readFile, rm } from "node:fs/promises";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { frame, readFramedMessages } from "../../dns/tcp-framing.ts";
import { DNSMASQ_BASE_ARGS } from "./dnsmasq.ts";

const run = promisify(execFile);

/** Installs a missing Debian package with apt-get; throws (never skips) when it cannot. */
export async function ensureTool(binary: string, debPackage: string): Promise<string> {
  const find = async () => {
    for (const dir of ["/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/local/bin"]) {
      const path = join(dir, binary);
      if (
        await access(path).then(
          () => true,
          () => false,
        )
      )
        return path;
    }
    return undefined;
  };
  const found = await find();
  if (found) return found;
  try {
    await run("apt-get", ["install", "-y", debPackage], { timeout: 300_000 }).catch(async () => {
      await run("apt-get", ["update"], { timeout: 300_000 });
      await run("apt-get", ["install", "-y", debPackage], { timeout: 300_000 });
    });
  } catch (err) {
    throw new Error(`${binary} is missing and "apt-get install -y ${debPackage}" failed: ${String(err)}`);
  }
  const installed = await find();
  if (!installed) throw new Error(`${binary} is still missing after installing ${debPackage}`);
  return installed;
}

/** A port free for both UDP and TCP on 127.0.0.1 at the time of the call. */
export async function freePort(): Promise<number> {
  for (;;) {
    const udp = createSocket("udp4");
    const port = await new Promise<number>((resolve) =>
      udp.bind(0, "127.0.0.1", () => resolve(udp.address().port)),
    );
    const tcpFree = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once("error", () => resolve(false));
      server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
    });
    await new Promise<void>((resolve) => udp.close(() => resolve()));
    if (tcpFree) return port;
  }
}

export interface Dnsmasq {
  port: number;
  /** Names dnsmasq was asked about (from --log-queries), in order. */
  queriedNames(): Promise<string[]>;
  stop(): Promise<void>;
}

/** Starts dnsmasq on 127.0.0.1 with `records` (e.g. "--address=/known.test/10.9.8.7"); every other name is NXDOMAIN. */
export async function startDnsmasq(records: string[]): Promise<Dnsmasq> {
  const binary = await ensureTool("dnsmasq", "dnsmasq-base");
  const dir = await mkdtemp(join(tmpdir(), "wharf-dnsmasq-"));
  const logFile = join(dir, "queries.log");
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const child = spawn(
      binary,
      [
        ...DNSMASQ_BASE_ARGS,
        `--port=${port}`,
        "--listen-address=127.0.0.1",
        "--bind-interfaces",
        "--edns-packet-max=1232",
        "--log-queries",
        `--log-facility=${logFile}`,
        ...records,
        "--address=/#/",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    // If the test process exits without stop(), dnsmasq must not outlive it.
    const reap = () => child.kill("SIGKILL");
    process.once("exit", reap);
    child.once("exit", () => process.off("exit", reap));
    let stderr = "";
    child.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    if (await answers(port, child)) {
      return {
        port,
        async queriedNames() {
          const text = await readFile(logFile, "utf8").catch(() => "");
          return [...text.matchAll(/query\[[A-Z0-9]+\] (\S+) from/g)].map((m) => (m[1] ?? "").toLowerCase());
        },
        async stop() {
          await stopChild(child);
          await rm(dir, { recursive: true, force: true });
        },
      };
    }
    await stopChild(child);
    if (attempt >= 3) throw new Error(`dnsmasq did not start: ${stderr}`);
  }
}

async function answers(port: number, child: ChildProcess): Promise<boolean> {
  for (let i = 0; i < 50 && child.exitCode === null; i++) {
    const reply = await udpExchange(port, queryPacket(0x0101, "ready.test", 1), 100);
    if (reply) return true;
  }
  return false;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
  await exited;
  clearTimeout(timer);
}

export interface DigResult {
  status: string;
  flags: string[];
  answers: Array<{ name: string; ttl: number; type: string; data: string }>;
  output: string;
}

/** Runs dig against 127.0.0.1:port (one try, 3 s): `dig(port, "ghcr.io", "A", "+tcp")`. */
export function dig(port: number, ...args: string[]): Promise<DigResult> {
  return digAt("127.0.0.1", port, ...args);
}

/** Runs dig against host:port, a loopback address (one try, 3 s). */
export async function digAt(host: string, port: number, ...args: string[]): Promise<DigResult> {
  const binary = await ensureTool("dig", "dnsutils");
  const { stdout } = await run(binary, [`@${host}`, "-p", String(port), "+time=3", "+tries=1", ...args], {
    timeout: 15_000,
  }).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? "" }));
  const status = /status: (\w+)/.exec(stdout)?.[1] ?? "NO-ANSWER";
  const flags = (/;; flags: ([a-z ]*);/.exec(stdout)?.[1] ?? "").split(" ").filter(Boolean);
  const section = /;; ANSWER SECTION:\n([\s\S]*?)\n\n/.exec(stdout)?.[1] ?? "";
  const answers = section
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => {
      const [name = "", ttl = "0", , type = "", ...data] = l.split(/\s+/);
      return { name, ttl: Number(ttl), type, data: data.join(" ") };
    });
  return { status, flags, answers, output: stdout };
}

/** A minimal query (RD set, no EDNS) for raw tests: 12-byte header and one question. */
export function queryPacket(id: number, name: string, type: number): Buffer {
  const labels = name.split(".").filter(Boolean);
  const parts = labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, "latin1")]));
  const header = Buffer.from([id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
  const tail = Buffer.from([0, type >> 8, type & 0xff, 0, 1]);
  return Buffer.concat([header, ...parts, tail]);
}

/** Sends one datagram from `source` and returns the first reply, or undefined after `timeoutMs`. */
export function udpExchange(port: number, packet: Buffer, timeoutMs: number, source = "127.0.0.1") {
  return new Promise<Buffer | undefined>((resolve) => {
    const socket = createSocket("udp4");
    const done = (reply: Buffer | undefined) => {
      clearTimeout(timer);
      socket.close();
      resolve(reply);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    socket.on("message", (m) => done(m));
    socket.on("error", () => done(undefined));
    socket.bind(0, source, () => socket.send(packet, port, "127.0.0.1"));
  });
}

/** Writes `bytes` to a TCP connection and collects framed replies until `timeoutMs` passes or the peer closes. */
export function tcpExchange(port: number, bytes: Buffer, timeoutMs: number): Promise<Buffer[]> {
  return new Promise((resolve) => {
    const replies: Buffer[] = [];
    const socket = connect({ host: "127.0.0.1", port });
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    readFramedMessages(socket, (m) => replies.push(Buffer.from(m)));
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(replies);
    });
    socket.on("connect", () => socket.write(bytes));
  });
}

export { frame };
