// Wires the DNS responder to the configuration: every intercepted registry name, alias and
// dns.extraNames answers with wharf's address; with dns.failOpen, names are forwarded instead
// while the cache cannot serve (so builders go straight to the registry rather than fail).

import { WharfError } from "../../common/errors.ts";
import { buildAnswerTable, defaultAnswerAddresses } from "../../dns/answer-table.ts";
import { type DnsResponder, startDnsResponder } from "../../dns/dns-responder.ts";
import type { QueryKind } from "../../dns/query-handler.ts";
import { interceptedNames } from "../config/intercepted-names.ts";
import type { Config } from "../config/schema.ts";
import type { Logger } from "../log.ts";

export async function startDns(opts: {
  config: Config;
  log: Logger;
  healthy: () => boolean;
  onQuery?: (kind: QueryKind) => void;
}): Promise<{ responder: DnsResponder; answer: string[] }> {
  const { config } = opts;
  const listen = config.listen.dns as { host: string; port: number };
  const answer =
    config.dns.answer.length > 0
      ? config.dns.answer
      : defaultAnswerAddresses(config.listen.https?.host ?? "0.0.0.0");
  if (answer.length === 0) {
    throw new WharfError(
      "CONFIG_INVALID",
      "dns.answer: no address to answer with could be found; set dns.answer to wharf's address",
    );
  }
  const table = buildAnswerTable({ names: interceptedNames(config), addresses: answer });
  const log = opts.log.child({ component: "dns" });
  let failingOpen = false;
  const lookup = (name: string) => {
    const entry = table.get(name);
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
    { address: `${listen.host}:${responder.udpPort}`, answer, names: table.size },
    "DNS responder listening",
  );
  return { responder, answer };
}
