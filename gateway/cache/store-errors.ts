// Which errors mean "the store cannot take writes right now" (a full, read-only or failing disk)
// as opposed to a bug, and how such an error reaches a client: 503 with Retry-After, never a 500.
import { statfs } from "node:fs/promises";
import { WharfError } from "../../common/errors.ts";

/** Seconds a client is asked to wait before retrying a request the store could not take. */
export const STORE_RETRY_AFTER_S = 30;

export type StoreProblem = "full" | "read-only" | "io";

// SQLite primary result codes (https://www.sqlite.org/rescode.html); node:sqlite reports the
// extended code in `errcode`, whose low byte is the primary one.
const SQLITE_READONLY = 8;
const SQLITE_IOERR = 10;
const SQLITE_FULL = 13;
const SQLITE_CANTOPEN = 14;

/** The kind of store trouble `e` reports, or undefined when it is something else. */
export function storeProblem(e: unknown): StoreProblem | undefined {
  if (e instanceof WharfError) return e.code === "STORE_UNAVAILABLE" ? storeProblem(e.cause) : undefined;
  if (typeof e !== "object" || e === null) return undefined;
  const { code, errcode } = e as { code?: unknown; errcode?: unknown };
  if (code === "ERR_SQLITE_ERROR" && typeof errcode === "number") {
    switch (errcode & 0xff) {
      case SQLITE_FULL:
        return "full";
      case SQLITE_READONLY:
        return "read-only";
      case SQLITE_IOERR:
      case SQLITE_CANTOPEN:
        return "io";
      default:
        return undefined;
    }
  }
  if (code === "ENOSPC" || code === "EDQUOT") return "full";
  if (code === "EROFS") return "read-only";
  if (code === "EIO") return "io";
  return undefined;
}

/** A 503 for a client whose request needed a write the store could not take. */
export function storeUnavailable(message: string, cause?: unknown): WharfError {
  return new WharfError("STORE_UNAVAILABLE", message, {
    cause,
    headers: { "retry-after": String(STORE_RETRY_AFTER_S) },
  });
}

/** Bytes available to wharf on the file system holding `dir` (Infinity when it cannot be asked). */
export async function freeBytes(dir: string): Promise<number> {
  try {
    const s = await statfs(dir);
    return s.bavail * s.bsize;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}
