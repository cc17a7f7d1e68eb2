// Readiness checks for GET /readyz (compose healthchecks, orchestrators): the store takes writes,
// the CA is loaded, every configured listener is bound. Liveness (/healthz) needs none of this.
// A shared store (bucket, database) that does not answer makes the replica degraded, not unready:
// it still serves its local disk and fills from upstream on its own (docs/storage.md#health).
import type { SharedStoreState } from "./shared-store-health.ts";

export interface ReadinessCheck {
  name: string;
  ok: boolean;
  /** Passing, but the replica works without a part (a shared store): /readyz says "degraded". */
  degraded?: boolean;
  detail?: string;
}

export type Readiness = () => Promise<ReadinessCheck[]>;

export function createReadiness(opts: {
  /**
   * cache/store-health.ts StoreHealth: free space against cache.minFree, then a file written, synced
   * and deleted in dataDir/tmp every few seconds; `lastError` says why writes stop ("disk full: …").
   */
  store: { readonly writable: boolean; readonly lastError?: string | undefined };
  /** Undefined until the CA is loaded; omit when the TLS gateway is off. */
  ca?: () => object | undefined;
  /** Listener names that must be up (the configured ones, e.g. ["https", "dns", "http"]). */
  listeners: readonly string[];
  /** Which listeners are bound now (startWharf's `addresses`, filled in as they come up). */
  addresses: Readonly<Record<string, string>>;
  /** The shared stores' last probe (admin/shared-store-health.ts); omit without storage.s3/postgres. */
  shared?: () => SharedStoreState;
}): Readiness {
  return async function readiness() {
    const { store } = opts;
    const checks: ReadinessCheck[] = [
      store.writable
        ? { name: "store", ok: true }
        : { name: "store", ok: false, detail: store.lastError ?? "not writable" },
    ];
    if (opts.ca)
      checks.push(opts.ca() ? { name: "ca", ok: true } : { name: "ca", ok: false, detail: "CA not loaded" });
    for (const name of opts.listeners) {
      const address = opts.addresses[name];
      checks.push(
        address
          ? { name: `listen.${name}`, ok: true, detail: address }
          : { name: `listen.${name}`, ok: false, detail: "not listening" },
      );
    }
    const shared = opts.shared?.();
    for (const store of ["bucket", "database"] as const) {
      const s = shared?.[store];
      if (!s) continue;
      const name = `shared.${store}`;
      if (s.reachable === false)
        checks.push({
          name,
          ok: true,
          degraded: true,
          detail: `unreachable (${s.error ?? "no answer"}): serving the local disk, filling from upstream without sharing`,
        });
      else checks.push({ name, ok: true, detail: s.reachable ? "reachable" : "not probed yet" });
    }
    return checks;
  };
}
