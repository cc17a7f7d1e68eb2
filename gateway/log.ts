// Structured logging (pino): JSON lines, human-readable on a TTY when pino-pretty is installed.
// pino-pretty is a development dependency: the container image and `npm ci --omit=dev` installs
// lack it, so on a TTY there (`docker run -it`) wharf writes JSON lines and says so once, rather
// than failing to start. Secrets are redacted by path as a second line of defence; code never
// logs credentials in the first place.
import { createRequire } from "node:module";
import { type Logger, pino } from "pino";
import { LineBatch } from "./log-batch.ts";

export type { Logger };

const SECRET_KEYS = [
  "password",
  "token",
  "access_token",
  "refresh_token",
  "authorization",
  "Authorization",
  "proxy-authorization",
  "secret",
];
const REDACT = SECRET_KEYS.flatMap((k) => {
  const key = k.includes("-") ? `["${k}"]` : k;
  const dot = k.includes("-") ? key : `.${key}`;
  return [key, `*${dot}`, `*.*${dot}`, `*.*.*${dot}`];
});

/** Where pino-pretty would load from, or undefined when it is not installed. */
export function resolvePinoPretty(): string | undefined {
  try {
    return createRequire(import.meta.url).resolve("pino-pretty");
  } catch {
    return undefined;
  }
}

export function createLogger(opts: {
  level: string;
  pretty?: boolean;
  destination?: number | string;
  /** Finds pino-pretty (injected by tests); default resolvePinoPretty. */
  resolvePretty?: () => string | undefined;
}): Logger {
  const pretty = opts.pretty ?? process.stdout.isTTY === true;
  const prettyTarget = pretty ? (opts.resolvePretty ?? resolvePinoPretty)() : undefined;
  if (prettyTarget) {
    return pino({
      level: opts.level,
      redact: REDACT,
      transport: {
        target: prettyTarget,
        options: {
          colorize: true,
          translateTime: "HH:MM:ss.l",
          ignore: "pid,hostname",
          destination: opts.destination ?? 1,
        },
      },
    });
  }
  const log = pino(
    { level: opts.level, redact: REDACT, base: { pid: process.pid } },
    new LineBatch(pino.destination({ dest: opts.destination ?? 1, sync: false })),
  );
  if (pretty)
    log.info("pino-pretty is not installed: logging JSON lines (pipe them through pino-pretty to read them)");
  return log;
}

/** A logger that drops everything, for tests and CLI commands that print their own output. */
export const silentLogger: Logger = pino({ level: "silent" });
