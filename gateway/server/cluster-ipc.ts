// The messages between the primary and its workers (workers: N, docs/workers.md), over the IPC
// channel node:cluster sets up. Every message carries `t`, prefixed "wharf." so that messages of
// node's own (or of a library) are told apart.

import type { FillProgress } from "../cache/fill-coordination.ts";
import type { RequestEvent } from "../http/registry-app.ts";
import type { ClaimAnswer } from "./cluster-fills.ts";

export interface ConnectionSnapshot {
  open: Record<string, number>;
  refused: Record<string, number>;
  sendTimeouts: Record<string, number>;
}

export interface FillEvent {
  bytes: number;
  ms: number;
  ok: boolean;
}

export type WorkerMessage =
  | { t: "wharf.ready"; addresses: Record<string, string> }
  | { t: "wharf.claim"; id: number; digest: string; tempPath: string }
  | { t: "wharf.publish"; digest: string; p: FillProgress }
  | {
      t: "wharf.events";
      requests: RequestEvent[];
      fills: FillEvent[];
      /** Bytes stored since the last report (the evictor runs when over budget). */
      stored: number;
      connections: ConnectionSnapshot;
      rss: number;
      /** User + system CPU time of the worker so far. */
      cpuMicros: number;
    }
  | { t: "wharf.inUse"; id: number; digests: string[] };

export type PrimaryMessage =
  | { t: "wharf.claimed"; id: number; answer: ClaimAnswer }
  | { t: "wharf.progress"; digest: string; p: FillProgress }
  | { t: "wharf.inUse?"; id: number }
  | { t: "wharf.stop" };

function isTagged(m: unknown): m is { t: string } {
  return typeof m === "object" && m !== null && typeof (m as { t?: unknown }).t === "string";
}

export function isWorkerMessage(m: unknown): m is WorkerMessage {
  return isTagged(m) && m.t.startsWith("wharf.");
}

export function isPrimaryMessage(m: unknown): m is PrimaryMessage {
  return isTagged(m) && m.t.startsWith("wharf.");
}
