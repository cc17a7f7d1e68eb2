// Resolves upstream host names through the configured DNS server (upstreamDns), never through the
// system resolver: where wharf's own DNS answers intercept registry names, the system resolver
// would send wharf to itself. Answers are cached for their TTL.
import { promises as dns, type LookupAddress } from "node:dns";
import { isIP } from "node:net";
import { WharfError } from "../../common/errors.ts";

export interface HostPort {
  host: string;
  port: number;
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

interface CacheEntry {
  addresses: LookupAddress[];
  expires: number;
}

const MIN_TTL_MS = 5_000;
const MAX_TTL_MS = 3_600_000;
const NEGATIVE_TTL_MS = 2_000;

export class UpstreamResolver {
  readonly server: HostPort;
  readonly #resolver: dns.Resolver;
  readonly #cache = new Map<string, CacheEntry>();
  readonly #inflight = new Map<string, Promise<LookupAddress[]>>();
  readonly #now: () => number;

  constructor(server: HostPort, opts: { timeoutMs?: number; now?: () => number } = {}) {
    this.server = server;
    this.#now = opts.now ?? Date.now;
    this.#resolver = new dns.Resolver({ timeout: opts.timeoutMs ?? 2000, tries: 2 });
    const host = server.host.includes(":") ? `[${server.host}]` : server.host;
    this.#resolver.setServers([`${host}:${server.port}`]);
  }

  /** All addresses of `hostname` (IPv4 first), from cache when fresh. */
  async resolve(hostname: string): Promise<LookupAddress[]> {
    const name = hostname.toLowerCase().replace(/\.$/, "");
    const family = isIP(name);
    if (family) return [{ address: name, family }];
    const cached = this.#cache.get(name);
    if (cached && cached.expires > this.#now()) {
      if (cached.addresses.length === 0) throw this.#notFound(name);
      return cached.addresses;
    }
    let pending = this.#inflight.get(name);
    if (!pending) {
      pending = this.#query(name).finally(() => this.#inflight.delete(name));
      this.#inflight.set(name, pending);
    }
    const addresses = await pending;
    if (addresses.length === 0) throw this.#notFound(name);
    return addresses;
  }

  async #query(name: string): Promise<LookupAddress[]> {
    const settle = async (fn: () => Promise<{ address: string; ttl: number }[]>) => {
      try {
        return { records: await fn(), error: undefined };
      } catch (e) {
        return { records: [] as { address: string; ttl: number }[], error: e as NodeJS.ErrnoException };
      }
    };
    const [v4, v6] = await Promise.all([
      settle(() => this.#resolver.resolve4(name, { ttl: true })),
      settle(() => this.#resolver.resolve6(name, { ttl: true })),
    ]);
    const hard = [v4.error, v6.error].find((e) => e && e.code !== "ENOTFOUND" && e.code !== "ENODATA");
    if (hard && v4.records.length === 0 && v6.records.length === 0) {
      throw new WharfError(
        "UPSTREAM_DNS_FAILED",
        `cannot resolve ${name}: DNS server ${this.server.host}:${this.server.port} failed (${hard.code ?? "error"})`,
      );
    }
    const addresses: LookupAddress[] = [
      ...v4.records.map((r) => ({ address: r.address, family: 4 })),
      ...v6.records.map((r) => ({ address: r.address, family: 6 })),
    ];
    const ttls = [...v4.records, ...v6.records].map((r) => r.ttl * 1000);
    const ttl = addresses.length
      ? Math.min(MAX_TTL_MS, Math.max(MIN_TTL_MS, Math.min(...ttls)))
      : NEGATIVE_TTL_MS;
    this.#cache.set(name, { addresses, expires: this.#now() + ttl });
    return addresses;
  }

  #notFound(name: string): WharfError {
    return new WharfError(
      "UPSTREAM_DNS_FAILED",
      `cannot resolve ${name}: no address from DNS server ${this.server.host}:${this.server.port}`,
    );
  }

  /** A `lookup` for net/tls.connect (and so for undici's connector). */
  readonly lookup = (
    hostname: string,
    options: { all?: boolean; family?: number | string },
    callback: LookupCallback,
  ) => {
    this.resolve(hostname).then(
      (addresses) => {
        const want =
          options.family === 6 || options.family === "IPv6"
            ? 6
            : options.family === 4 || options.family === "IPv4"
              ? 4
              : 0;
        const list = want ? addresses.filter((a) => a.family === want) : addresses;
        if (list.length === 0) {
          callback(
            Object.assign(new Error(`no IPv${want} address for ${hostname}`), { code: "ENOTFOUND" }),
            [],
          );
        } else if (options.all) callback(null, list);
        else callback(null, (list[0] as LookupAddress).address, (list[0] as LookupAddress).family);
      },
      (err: WharfError) =>
        callback(Object.assign(new Error(err.message), { code: "ENOTFOUND", wharf: err }), []),
    );
  };
}
