// A cheap periodic `GET /v2/` per proxied upstream, so the status page knows whether an upstream is
// there even while every request is answered from cache. Bounded: one probe per upstream at a time,
// each with a timeout, none for offline registries, and none while real traffic has shown the
// upstream answering within the interval. /v2/ is not a pull (Docker Hub counts manifest GETs only,
// docs.docker.com/docker-hub/usage/pulls).
import type { Logger } from "../log.ts";
import type { UpstreamClient } from "./upstream-client.ts";

export interface UpstreamProbes {
  /** Probes every upstream now (the timer calls this); resolves when all have answered or failed. */
  probeAll(): Promise<void>;
  stop(): void;
}

export function startUpstreamProbes(opts: {
  upstreams: readonly UpstreamClient[];
  intervalMs: number;
  timeoutMs: number;
  log: Logger;
}): UpstreamProbes {
  const running = new Set<UpstreamClient>();
  const probe = async (client: UpstreamClient) => {
    const quiet = client.health.sinceSuccessMs();
    if (
      running.has(client) ||
      (quiet !== null && quiet < opts.intervalMs && !client.health.snapshot().unreachableSince)
    )
      return;
    // an open breaker refuses without asking: its half-open trial is the probe that counts
    if (client.breaker.state === "open") return;
    running.add(client);
    try {
      await client.ping(AbortSignal.timeout(opts.timeoutMs));
    } catch (e) {
      // UpstreamClient has recorded the failure in client.health and the breaker
      opts.log.debug({ registry: client.registry, err: (e as Error).message }, "upstream probe failed");
    } finally {
      running.delete(client);
    }
  };
  const probeAll = async () => {
    await Promise.all(opts.upstreams.map(probe));
  };
  const timer =
    opts.intervalMs > 0 && opts.upstreams.length > 0
      ? setInterval(() => void probeAll(), opts.intervalMs)
      : undefined;
  timer?.unref();
  return { probeAll, stop: () => clearInterval(timer) };
}
