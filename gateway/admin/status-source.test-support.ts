import type { StatusSource } from "./status-source.ts";

/** A StatusSource with nothing in it (no registries, an empty cache); tests override what they show. */
export function emptyStatusSource(over: Partial<StatusSource> = {}): StatusSource {
  return {
    version: "0.0.0-test",
    startedAt: 0,
    registries: () => [],
    cacheTotals: () => ({ bytes: 0, entries: 0, maxBytes: null }),
    rateLimits: () => [],
    fillsInFlight: () => 0,
    ca: () => null,
    listen: () => ({}),
    clientCommands: () => [],
    ...over,
  };
}
