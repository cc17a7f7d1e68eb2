// The caches being compared, behind one small interface: wharf (its TLS gateway), distribution's
// pull-through proxy, nginx proxy_cache (nginx-cache.ts) and "direct" (the upstream itself). Each
// has a host name of its own (clients map it to the contender's loopback address) and answers over
// TLS with a certificate from the bench CA.
import type { TestCa } from "../test/support/test-ca.ts";
import { startUpstreamRegistry, type UpstreamRegistry } from "../test/support/upstream-registry.ts";
import { startWharf } from "../test/support/wharf-process.ts";
import { pidsByCommandLine } from "./proc-tree.ts";

export type ContenderName = "wharf" | "distribution" | "nginx" | "direct";

export const CONTENDERS: readonly ContenderName[] = ["wharf", "distribution", "nginx", "direct"];

/** The TLS name of each contender (all in the bench certificate). */
export const HOST_NAMES: Readonly<Record<ContenderName, string>> = {
  wharf: "wharf.bench.test",
  distribution: "distribution.bench.test",
  nginx: "nginx.bench.test",
  direct: "upstream.bench.test",
};

/** Repository whose tag gets the short TTL (figure 6); every other tag stays fresh for an hour. */
export const TTL_REPOSITORY = "library/ttl";
export const SHORT_TTL_SECONDS = 2;
/** Repository whose tag has tagTtl 0: checked upstream on every pull (figure 7). */
export const ALWAYS_REPOSITORY = "library/always";

export interface Contender {
  readonly name: ContenderName;
  readonly host: string;
  readonly ip: string;
  /** Stops and starts again with an empty cache (no-op for direct). */
  reset(): Promise<void>;
  /** Root PIDs of the serving processes; their process trees are measured. */
  pids(): number[];
  stop(): Promise<void>;
}

export interface ContenderContext {
  ca: TestCa;
  upstream: UpstreamRegistry;
  /** Directory for CPU profiles of wharf (node --cpu-prof), when profiling. */
  cpuProfileDir?: string;
  /** wharf decides every request by access rules (three rules, the last one matching the bench). */
  accessRules?: boolean | undefined;
  /** wharf's `workers`; 1 when not given. */
  wharfWorkers?: number | undefined;
}

function registryPids(r: UpstreamRegistry): number[] {
  return pidsByCommandLine(`${r.dir}/config.yml`);
}

/** A contender that is one process from `start`: reset stops it and starts a fresh, empty one. */
async function restartable<P extends { stop(): Promise<unknown> }>(
  who: Pick<Contender, "name" | "host" | "ip">,
  start: () => Promise<P>,
  pidsOf: (p: P) => number[],
): Promise<Contender> {
  let p: P | undefined = await start();
  const stop = async () => {
    await p?.stop();
    p = undefined;
  };
  return {
    ...who,
    reset: async () => {
      await stop();
      p = await start();
    },
    pids: () => (p ? pidsOf(p) : []),
    stop,
  };
}

export function directContender(ctx: ContenderContext): Contender {
  return {
    name: "direct",
    host: HOST_NAMES.direct,
    ip: ctx.upstream.host,
    reset: async () => {},
    pids: () => registryPids(ctx.upstream),
    stop: async () => {},
  };
}

export async function distributionContender(ctx: ContenderContext, ip: string): Promise<Contender> {
  const start = () =>
    startUpstreamRegistry({
      host: ip,
      cert: ctx.ca.cert,
      key: ctx.ca.key,
      proxy: {
        remoteUrl: `https://${HOST_NAMES.direct}`,
        caFile: ctx.ca.caCert,
        hosts: { [HOST_NAMES.direct]: ctx.upstream.host },
      },
    });
  return restartable({ name: "distribution", host: HOST_NAMES.distribution, ip }, start, registryPids);
}

export function wharfConfig(ctx: ContenderContext, ip: string): Record<string, unknown> {
  const host = HOST_NAMES.wharf;
  return {
    workers: ctx.wharfWorkers ?? 1,
    listen: { http: `${ip}:5000`, https: `${ip}:443`, dns: null, admin: `${ip}:9090` },
    upstreamCaFile: ctx.ca.caCert,
    // the bench CA signs wharf's leaves too, so every contender is trusted through one CA
    tls: { caCertFile: ctx.ca.caCert, caKeyFile: ctx.ca.caKey },
    defaultRegistry: host,
    registries: {
      [host]: {
        upstream: `https://${ctx.upstream.host}`,
        tagTtl: "1h",
        repositories: [
          { match: TTL_REPOSITORY, tagTtl: `${SHORT_TTL_SECONDS}s` },
          { match: ALWAYS_REPOSITORY, tagTtl: 0 },
        ],
      },
    },
    ...(ctx.accessRules && {
      access: {
        groups: { devs: ["dev"] },
        rules: [
          { registry: host, repository: "private/**", allow: ["pull"], users: ["ci"] },
          { registry: "*", repository: "team-*/**", allow: ["pull", "push"], groups: ["devs"] },
          { registry: "*", repository: "**", allow: ["pull"], anonymous: true, networks: ["127.0.0.0/8"] },
        ],
      },
    }),
  };
}

export async function wharfContender(ctx: ContenderContext, ip: string): Promise<Contender> {
  const env = ctx.cpuProfileDir
    ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${ctx.cpuProfileDir}` }
    : undefined;
  const start = () => startWharf({ config: wharfConfig(ctx, ip), env });
  // The first start after a code change strips wharf's TypeScript (about 17 MiB more RSS for the
  // life of that process); Node's compile cache, written at exit, spares every later start. One
  // start and stop first, so idle RSS (5b) is that of every start but the first after an upgrade.
  await (await start()).stop();
  return restartable({ name: "wharf", host: HOST_NAMES.wharf, ip }, start, (w) => [w.pid]);
}
