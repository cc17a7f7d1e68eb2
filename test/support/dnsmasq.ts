// The "internet's" DNS inside a topology (testbed.md §7): dnsmasq answering only the names it is
// given and NXDOMAIN for everything else (`--address=/#/`), never forwarding (`--no-resolv`).
import type { Topology } from "./netns.ts";
import type { OwnedProcess } from "./owned-process.ts";

export interface DnsmasqOptions {
  /** Address to listen on (port 53), one of the namespace's addresses. */
  listen: string;
  /** Name -> IP; subdomains answer too (dnsmasq --address semantics). */
  addresses: Record<string, string>;
  /** Where to log the queries (--log-queries), for tests that count lookups. */
  logFile?: string;
}

export interface Dnsmasq {
  proc: OwnedProcess;
  /** Runs `dig +short @listen NAME` from namespace `from`; returns the answer lines. */
  lookup(from: string, name: string): Promise<string[]>;
  stop(): Promise<void>;
}

/** dnsmasq as a test's private authority: in the foreground, no upstream, no /etc/hosts, no pid file. */
export const DNSMASQ_BASE_ARGS: readonly string[] = [
  "--keep-in-foreground",
  "--no-resolv",
  "--no-hosts",
  "--no-poll",
  "--user=root",
  "--pid-file=",
];

export async function startDnsmasq(topology: Topology, ns: string, o: DnsmasqOptions): Promise<Dnsmasq> {
  const args = [...DNSMASQ_BASE_ARGS];
  args.push(`--listen-address=${o.listen}`, "--bind-interfaces");
  if (o.logFile) args.push("--log-queries", `--log-facility=${o.logFile}`);
  for (const [name, ip] of Object.entries(o.addresses)) args.push(`--address=/${name}/${ip}`);
  args.push("--address=/#/"); // every other name: NXDOMAIN
  const proc = await topology.spawnIn(ns, ["dnsmasq", ...args]);
  const lookup = async (from: string, name: string): Promise<string[]> => {
    const dig = ["dig", "+short", "+time=1", "+tries=1", `@${o.listen}`, name];
    const r = await topology.run(from, dig, { allowFailure: true });
    return r.code === 0 ? r.stdout.split("\n").filter(Boolean) : [];
  };
  const stop = async (): Promise<void> => {
    await proc.stop();
  };
  const [probeName, probeIp] = Object.entries(o.addresses)[0] ?? ["probe.invalid", ""];
  for (let i = 0; ; i++) {
    const answer = await lookup(ns, probeName);
    if (probeIp ? answer.includes(probeIp) : proc.alive()) break;
    if (!proc.alive() || i >= 50) {
      await stop();
      throw new Error(`dnsmasq on ${o.listen} in ${ns} did not answer`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { proc, lookup, stop };
}
