// `wharf token create|ls|revoke`: robot tokens in the cache's database, beside a running server
// (opened in shared mode like `wharf gc`; the server reads the table on every check, so a
// revocation holds at once). With storage.postgres the tokens are the replica set's, in
// PostgreSQL: the command works beside any replica and changes what every replica accepts.
// The token text is printed once, by `create`, and stored nowhere.
import type { Command } from "commander";
import { WharfError } from "../../common/errors.ts";
import {
  formatRobotScope,
  parseRobotScope,
  type RobotTokenStore,
  RobotTokens,
} from "../access/robot-tokens.ts";
import { openCache } from "../cache/open-cache.ts";
import { loadConfig } from "../config/load-config.ts";
import { parseDuration } from "../config/units.ts";
import { silentLogger } from "../log.ts";
import { openPostgres } from "../store/pg/open-postgres.ts";
import { PgRobotTokens } from "../store/pg/pg-robot-tokens.ts";

async function withTokens<T>(
  configFile: string | undefined,
  fn: (t: RobotTokenStore) => T | Promise<T>,
): Promise<T> {
  // storage keys are resolved for storage.postgres's URL; upstream credentials are not
  const loaded = loadConfig(configFile, process.env, { credentials: false, storageCredentials: true });
  const { config, metadataUrl: url } = loaded;
  if (url) {
    // migrated like a replica at start (the command may run before any replica has)
    const shared = await openPostgres(url, silentLogger, { max: 1 });
    try {
      return await fn(await PgRobotTokens.open(shared.pool));
    } finally {
      await shared.close();
    }
  }
  const opened = await openCache({
    dataDir: config.dataDir,
    log: silentLogger,
    fillTimeoutMs: config.cache.fillTimeout,
    shared: true,
  });
  try {
    return await fn(new RobotTokens(opened.cache.db));
  } finally {
    opened.close();
  }
}

export function registerTokenCommands(program: Command): void {
  const token = program.command("token").description("robot tokens for CI: create, list, revoke");
  token
    .command("create")
    .description("create a robot token and print it (once); use it as the password, its name as the user")
    .requiredOption("--name <name>", "the token's name (the user name in rules and logs)")
    .requiredOption(
      "--scope <scope...>",
      "<registry>/<repository-glob>:pull[,push][,delete], e.g. ghcr.io/acme/*:pull",
    )
    .option("--expires <duration>", "lifetime, e.g. 90d (default: until revoked)")
    .option("-c, --config <file>", "configuration file", process.env.WHARF_CONFIG)
    .action(async (o: { name: string; scope: string[]; expires?: string; config?: string }) => {
      const scopes = o.scope.map(parseRobotScope);
      const lifetime = o.expires === undefined ? undefined : parseDuration(o.expires);
      if (o.expires !== undefined && lifetime === undefined)
        throw new WharfError(
          "CONFIG_INVALID",
          `--expires: expected a duration like "90d", got "${o.expires}"`,
        );
      const now = Date.now();
      const text = await withTokens(o.config, (t) =>
        t.create({ name: o.name, scopes, expiresAt: lifetime === undefined ? null : now + lifetime, now }),
      );
      process.stdout.write(`${text}\n`);
      process.stderr.write(
        `token ${o.name} created (${scopes.map(formatRobotScope).join(" ")}); it is shown only now\n`,
      );
    });
  token
    .command("ls")
    .description("list robot tokens (names, scopes, expiry; never the tokens)")
    .option("-c, --config <file>", "configuration file", process.env.WHARF_CONFIG)
    .action(async (o: { config?: string }) => {
      const rows = await withTokens(o.config, (t) => t.list());
      for (const r of rows)
        process.stdout.write(
          `${r.name}\t${r.scopes.map(formatRobotScope).join(" ")}\tcreated ${new Date(r.createdAt).toISOString()}\t${
            r.expiresAt === null ? "no expiry" : `expires ${new Date(r.expiresAt).toISOString()}`
          }\n`,
        );
    });
  token
    .command("revoke")
    .description("revoke a robot token: refused from the next request on")
    .argument("<name>")
    .option("-c, --config <file>", "configuration file", process.env.WHARF_CONFIG)
    .action(async (name: string, o: { config?: string }) => {
      const gone = await withTokens(o.config, (t) => t.revoke(name));
      if (!gone) throw new WharfError("NOT_FOUND", `no token named ${name}`);
      process.stdout.write(`token ${name} revoked\n`);
    });
}
