// Structured logging (pino): JSON lines, human-readable on a TTY. Secrets are redacted by path
// as a second line of defence; code never logs credentials in the first place.
import { type Logger, pino } from "pino";

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

export function createLogger(opts: {
  level: string;
  pretty?: boolean;
  destination?: number | string;
}): Logger {
  const pretty = opts.pretty ?? process.stdout.isTTY === true;
  if (pretty) {
    return pino({
      level: opts.level,
      redact: REDACT,
      transport: {
        target: "pino-pretty",
        options: { colorize: true, translateTime: "HH:MM:ss.l", ignore: "pid,hostname" },
      },
    });
  }
  return pino(
    { level: opts.level, redact: REDACT, base: { pid: process.pid } },
    pino.destination({ dest: opts.destination ?? 1, sync: false }),
  );
}

/** A logger that drops everything, for tests and CLI commands that print their own output. */
export const silentLogger: Logger = pino({ level: "silent" });
