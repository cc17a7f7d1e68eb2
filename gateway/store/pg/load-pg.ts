// The PostgreSQL driver, loaded when storage.postgres is used: a process without it (the default,
// one replica) does not carry the driver's modules (about 10 MiB of resident memory).
import type pg from "pg";

export async function loadPg(): Promise<typeof pg> {
  return (await import("pg")).default;
}
