import cluster from "node:cluster";
import type { Command } from "commander";
import { loadConfig } from "../config/load-config.ts";

export function registerServeCommand(program: Command): void {
  program
    .command("serve")
    .description("start the gateway (HTTP mirror endpoint, TLS gateway, DNS responder, admin endpoint)")
    .option(
      "-c, --config <file>",
      "YAML configuration file (default: embedded defaults)",
      process.env.WHARF_CONFIG,
    )
    .action(async (opts: { config?: string }) => {
      const loaded = loadConfig(opts.config, process.env);
      // workers: N (docs/workers.md): node:cluster runs this same command in each worker
      if (cluster.isWorker) {
        const { runWorker } = await import("../server/cluster-worker.ts");
        await runWorker(loaded, process.env);
        return;
      }
      const { listen, workers } = loaded.config;
      if (workers > 1 && (listen.https || listen.http)) {
        const { startCluster } = await import("../server/cluster-primary.ts");
        await startCluster(loaded);
        return;
      }
      const { startWharf } = await import("../server/start-wharf.ts");
      await startWharf(loaded);
    });
}
