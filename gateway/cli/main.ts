// The CLI is thin: it parses arguments and calls the functions the server uses.
// Exit codes: 0 ok, 1 runtime failure, 2 bad usage or bad configuration.
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { isWharfError } from "../../common/errors.ts";
import { registerCaCommands } from "./ca-command.ts";
import { registerCacheCommands } from "./cache-command.ts";
import { registerClientConfigCommand } from "./client-config-command.ts";
import { registerDoctorCommand } from "./doctor-command.ts";
import { registerGcCommand } from "./gc-command.ts";
import { registerMirrorCommands } from "./mirror-command.ts";
import { registerServeCommand } from "./serve-command.ts";
import { registerTokenCommands } from "./token-command.ts";

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

export function buildProgram(): Command {
  const program = new Command("wharf")
    .description("Caching gateway for container registries: docker.io, ghcr.io, registry.gitlab.com and more")
    .version(packageVersion(), "-v, --version")
    .showHelpAfterError("(run `wharf --help` for usage)")
    .exitOverride();
  registerServeCommand(program);
  registerCacheCommands(program);
  registerGcCommand(program);
  registerMirrorCommands(program);
  registerCaCommands(program);
  registerClientConfigCommand(program);
  registerDoctorCommand(program);
  registerTokenCommands(program);
  return program;
}

/** Runs the CLI; returns the exit code instead of exiting, so tests can call it. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : EXIT_OK;
  } catch (e) {
    if (e instanceof CommanderError) {
      return e.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    if (isWharfError(e, "CONFIG_INVALID")) {
      process.stderr.write(`wharf: config: ${e.message}\n`);
      return EXIT_USAGE;
    }
    if (isWharfError(e)) {
      process.stderr.write(`wharf: ${e.message}\n`);
      return EXIT_FAILURE;
    }
    const err = e as NodeJS.ErrnoException;
    process.stderr.write(`wharf: ${err?.message ?? String(e)}\n`);
    return EXIT_FAILURE;
  }
}
