// The undici dispatcher shared by every upstream: keep-alive pools per origin, names resolved by
// UpstreamResolver, system roots plus upstreamCaFile, optional CONNECT proxy.
import { readFileSync } from "node:fs";
import { rootCertificates } from "node:tls";
import { Agent, type Dispatcher, ProxyAgent } from "undici";
import { WharfError } from "../../common/errors.ts";
import type { Config } from "../config/schema.ts";
import type { UpstreamResolver } from "./upstream-resolver.ts";

export function trustedCas(upstreamCaFile: string | null): string[] {
  if (!upstreamCaFile) return [...rootCertificates];
  try {
    return [...rootCertificates, readFileSync(upstreamCaFile, "utf8")];
  } catch (e) {
    throw new WharfError(
      "CONFIG_INVALID",
      `upstreamCaFile: cannot read ${upstreamCaFile} (${(e as NodeJS.ErrnoException).code})`,
    );
  }
}

export function createUpstreamDispatcher(config: Config, resolver: UpstreamResolver): Dispatcher {
  const ca = trustedCas(config.upstreamCaFile);
  const t = config.upstreamTimeouts;
  if (config.upstreamProxy) {
    return new ProxyAgent({
      uri: config.upstreamProxy,
      requestTls: { ca },
      headersTimeout: t.headers,
      bodyTimeout: t.body,
    });
  }
  return new Agent({
    connect: { ca, lookup: resolver.lookup, timeout: t.connect },
    headersTimeout: t.headers,
    bodyTimeout: t.body,
    keepAliveTimeout: 30_000,
    connections: 32,
    allowH2: false,
  });
}
