// Wires the DNS responder to the configuration: every intercepted registry name, alias and
// dns.extraNames answers with wharf's address; with dns.failOpen, names are forwarded instead
// while the cache cannot serve (so builders go straight to the registry rather than fail).
// In a replica set (storage.postgres) the answer is every healthy replica's address, read from the
// replica directory through `answers`, rotated per query so clients spread over the replicas.

import { isIP } from "node:net";
import { WharfError } from "../../common/errors.ts";
import { type AnswerTable, buildAnswerTable, defaultAnswerAddresses } from "../../dns/answer-table.ts";
import type { DnsResponder } from "../../dns/dns-responder.ts";
import type { QueryKind } from "../../dns/query-handler.ts";
import { interceptedNames } from "../config/intercepted-names.ts";
import type { Config } from "../config/schema.ts";
import type { Logger } from "../log.ts";

export async function startDns(opts: {
  config: Config;
  log: Logger;
  healthy: () => boolean;
  onQuery?: (kind: QueryKind) => void;
  /** The addresses to answer with now (the replica set's); this replica's own when absent. */
  answers?: () => readonly string[];
}): Promise<{ responder: DnsResponder; answer: string[] }> {
  const { config } = opts;
  const listen = config.listen.dns as { host: string; port: number };
  const answer = dnsAnswerAddresses(config);
  if (answer.length === 0) {
    throw new WharfError(
      "CONFIG_INVALID",
      "dns.answer: no address to answer with could be found; set dns.answer to wharf's address",
    );
  }
  const names = interceptedNames(config);
  const own = buildAnswerTable({ names, addresses: answer });
  const log = opts.log.child({ component: "dns" });
  const current = replicaTables(names, own, opts.answers, log);
  let failingOpen = false;
  const lookup = (name: string) => {
    const entry = current().get(name);
    if (!entry) return undefined;
    if (config.dns.failOpen && !opts.healthy()) {
      if (!failingOpen) log.warn({ name }, "cache unhealthy: forwarding intercepted names (dns.failOpen)");
      failingOpen = true;
      return undefined;
    }
    if (failingOpen) log.info("cache healthy again: answering intercepted names");
    failingOpen = false;
    return entry;
  };
  let responder: DnsResponder;
  // the responder and its codec (dns2, about 15 MiB resident) load only when listen.dns is set
  const { startDnsResponder } = await import("../../dns/dns-responder.ts");
  try {
    responder = await startDnsResponder({
      host: listen.host,
      port: listen.port,
      upstream: config.upstreamDns,
      ttl: config.dns.ttl,
      allow: config.dns.allow,
      rateLimit: config.dns.rateLimit,
      lookup,
      log,
      onQuery: opts.onQuery,
    });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new WharfError(
      "CONFIG_INVALID",
      `listen.dns: cannot listen on ${listen.host}:${listen.port}: ${code}`,
    );
  }
  log.info(
    { address: `${listen.host}:${responder.udpPort}`, answer, names: own.size },
    "DNS responder listening",
  );
  return { responder, answer };
}

/** What this replica answers with: dns.answer, else the HTTPS listener's (or this host's) address. */
export function dnsAnswerAddresses(config: Config): string[] {
  return config.dns.answer.length > 0
    ? [...config.dns.answer]
    : defaultAnswerAddresses(config.listen.https?.host ?? "0.0.0.0");
}

/**
 * The answer table for the replica set's addresses now: rebuilt when they change, and rotated by
 * one on every query (clients mostly take the first address). Falls back to this replica's own
 * table when there is no provider or it offers nothing usable.
 */
function replicaTables(
  names: readonly string[],
  own: AnswerTable,
  answers: (() => readonly string[]) | undefined,
  log: Logger,
): () => AnswerTable {
  if (!answers) return () => own;
  let key = "";
  let tables: AnswerTable[] = [own];
  let turn = 0;
  return () => {
    const addresses = answers();
    const next = addresses.join(",");
    if (next !== key) {
      key = next;
      const valid = addresses.filter((a) => isIP(a) !== 0);
      if (valid.length < addresses.length)
        log.warn({ addresses }, "replica directory: ignoring answer addresses that are not IP addresses");
      // one table per rotation: the responder answers with an entry's addresses in their order
      tables = valid.map((_, i) =>
        buildAnswerTable({ names, addresses: [...valid.slice(i), ...valid.slice(0, i)] }),
      );
      if (tables.length === 0) tables = [own];
      log.info({ answer: valid }, "DNS answers follow the replica directory");
    }
    turn = (turn + 1) % tables.length;
    return tables[turn] ?? own;
  };
}
