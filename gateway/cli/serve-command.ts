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
      const { startWharf } = await import("../server/start-wharf.ts");
      await startWharf(loaded);
    });
}
