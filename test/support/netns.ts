// Network-namespace topologies (testbed.md §7-8): an "internet" namespace `<prefix>inet` with a
// bridge holding several addresses (fake upstreams, DNS), and named hosts (`<prefix><name>`),
// each with a veth on that bridge. No namespace has a default route, so nothing can leave the
// /24. Names carry the PID and a counter, so parallel test files and runs never share one.
import { addExitHook } from "./exit-hooks.ts";
import { deleteNetns, deleteNetnsSync, forgetTopology, listNetns, recordTopology } from "./netns-cleanup.ts";
import { type OwnedProcess, type SpawnOptions, spawnOwned } from "./owned-process.ts";
import { type RunOptions, type RunResult, runCommand } from "./run-command.ts";
import { createSandbox, type SandboxOptions } from "./sandbox.ts";

export interface TopologyOptions {
  /** Host namespaces to create (lower-case, at most 12 characters); default ["bld", "gw"]. */
  hosts?: string[];
  /** Number of addresses on the inet bridge (.1, .2, …); default 4. */
  inetAddresses?: number;
}

export interface NetnsHost {
  /** Namespace name under /run/netns. */
  ns: string;
  /** Its first address. */
  ip: string;
}

export interface NsOptions {
  /** The nameserver in the private resolv.conf (default 127.0.0.1, i.e. none inside a namespace). */
  resolv?: string;
  /** Entries for the private /etc/hosts. */
  hosts?: Record<string, string>;
  binds?: SandboxOptions["binds"];
}

export interface Topology {
  /** The caller's prefix plus PID and counter: every namespace name starts with it. */
  prefix: string;
  /** "10.a.b" of the /24 this topology uses. */
  net: string;
  inet: NetnsHost & { ips: string[] };
  hosts: Record<string, NetnsHost>;
  /** Namespace name of "inet", a host name, or a full namespace name. */
  nsName(name: string): string;
  run(ns: string, cmd: string[], opts?: NsOptions & RunOptions): Promise<RunResult>;
  /** A long-running process inside `ns` (stopped by destroy() at the latest). */
  spawnIn(ns: string, cmd: string[], opts?: NsOptions & SpawnOptions): Promise<OwnedProcess>;
  /** Stops every process in the namespaces (SIGTERM, then SIGKILL) and deletes them. */
  destroy(): Promise<void>;
}

let counter = 0;

export async function createTopology(prefix: string, opts: TopologyOptions = {}): Promise<Topology> {
  if (process.getuid?.() !== 0) throw new Error("network namespaces need root");
  if (!/^[a-z][a-z0-9-]{0,15}$/.test(prefix)) throw new Error(`bad topology prefix ${prefix}`);
  const names = opts.hosts ?? ["bld", "gw"];
  for (const n of names)
    if (!/^[a-z][a-z0-9]{0,11}$/.test(n) || n === "inet") throw new Error(`bad host name ${n}`);
  counter++;
  const p = `${prefix}${process.pid.toString(36)}${counter}-`;
  const net = `10.${200 + (process.pid % 56)}.${(Math.floor(process.pid / 56) + counter * 37) % 256}`;
  const inetIps = Array.from({ length: opts.inetAddresses ?? 4 }, (_, i) => `${net}.${i + 1}`);
  const inet = { ns: `${p}inet`, ip: inetIps[0] as string, ips: inetIps };
  const hosts: Record<string, NetnsHost> = {};
  names.forEach((n, i) => {
    hosts[n] = { ns: `${p}${n}`, ip: `${net}.${101 + i}` };
  });
  const all = [...Object.values(hosts).map((h) => h.ns), inet.ns];
  for (const ns of all)
    if (listNetns().includes(ns)) throw new Error(`network namespace ${ns} exists already`);

  recordTopology(p, all);
  const removeHook = addExitHook(() => {
    for (const ns of all) deleteNetnsSync(ns);
    forgetTopology(p);
  });
  const destroy = async (): Promise<void> => {
    // hosts first: dockerd stops its containers and unmounts while its upstreams still run
    for (const ns of all) await deleteNetns(ns);
    forgetTopology(p);
    removeHook();
  };

  const ip = (args: string) => runCommand(["ip", ...args.split(" ")]);
  try {
    await ip(`netns add ${inet.ns}`);
    await ip(`-n ${inet.ns} link set lo up`);
    await ip(`-n ${inet.ns} link add br0 type bridge`);
    await ip(`-n ${inet.ns} link set br0 up`);
    for (const a of inetIps) await ip(`-n ${inet.ns} addr add ${a}/24 dev br0`);
    for (const [name, h] of Object.entries(hosts)) {
      await ip(`netns add ${h.ns}`);
      await ip(`-n ${h.ns} link set lo up`);
      await ip(`-n ${inet.ns} link add v-${name} type veth peer name eth0 netns ${h.ns}`);
      await ip(`-n ${inet.ns} link set v-${name} master br0 up`);
      await ip(`-n ${h.ns} addr add ${h.ip}/24 dev eth0`);
      await ip(`-n ${h.ns} link set eth0 up`);
    }
  } catch (e) {
    await destroy();
    throw e;
  }

  const nsName = (name: string): string => {
    if (name === "inet") return inet.ns;
    const h = hosts[name];
    if (h) return h.ns;
    if (all.includes(name)) return name;
    throw new Error(`no namespace ${name} in topology ${p}`);
  };
  const sandboxFor = (ns: string, o: NsOptions) =>
    createSandbox({ netns: nsName(ns), nameserver: o.resolv, hosts: o.hosts, binds: o.binds });

  return {
    prefix: p,
    net,
    inet,
    hosts,
    nsName,
    async run(ns, cmd, o = {}) {
      const sandbox = await sandboxFor(ns, o);
      try {
        return await runCommand(sandbox.wrap(cmd), o);
      } finally {
        await sandbox.dispose();
      }
    },
    async spawnIn(ns, cmd, o = {}) {
      const sandbox = await sandboxFor(ns, o);
      const proc = spawnOwned(sandbox.wrap(cmd), o);
      void proc.exited.then(() => sandbox.dispose());
      return proc;
    },
    destroy,
  };
}
