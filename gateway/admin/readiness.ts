// Readiness checks for GET /readyz (compose healthchecks, orchestrators): the store takes writes,
// the CA is loaded, every configured listener is bound. Liveness (/healthz) needs none of this.

export interface ReadinessCheck {
  name: string;
  ok: boolean;
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
    return checks;
  };
}
