// A worker's side of fill coordination (workers: N): claims go to the primary over IPC, progress
// of the fills it follows comes back from it (cluster-fills.ts keeps the table).
import type { FillCoordinator, FollowedFill } from "../cache/fill-coordination.ts";
import { FollowedFills } from "./cluster-fills.ts";
import type { PrimaryMessage, WorkerMessage } from "./cluster-ipc.ts";

/** A primary that does not answer a claim this fast is not waited for: the worker fills alone. */
const CLAIM_TIMEOUT_MS = 5_000;

interface PendingClaim {
  digest: string;
  resolve(f: FollowedFill | undefined): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

export class WorkerFillCoordinator implements FillCoordinator {
  readonly #send: (m: WorkerMessage) => void;
  readonly #pending = new Map<number, PendingClaim>();
  readonly #followed = new FollowedFills();
  #next = 1;

  constructor(send: (m: WorkerMessage) => void) {
    this.#send = send;
  }

  claim(digest: string, tempPath: string): Promise<FollowedFill | undefined> {
    return new Promise((resolve, reject) => {
      const id = this.#next++;
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error("the primary did not answer a fill claim"));
      }, CLAIM_TIMEOUT_MS);
      timer.unref();
      this.#pending.set(id, { digest, resolve, reject, timer });
      this.#send({ t: "wharf.claim", id, digest, tempPath });
    });
  }

  publish(digest: string, p: Parameters<FillCoordinator["publish"]>[1]): void {
    this.#send({ t: "wharf.publish", digest, p });
  }

  /** Handles the primary's claim answers and relayed progress; false for other messages. */
  onMessage(m: PrimaryMessage): boolean {
    if (m.t === "wharf.claimed") {
      const pending = this.#pending.get(m.id);
      if (!pending) return true;
      this.#pending.delete(m.id);
      clearTimeout(pending.timer);
      const a = m.answer;
      // registered now, before any later message: progress sent right after the answer is kept
      pending.resolve(a.own ? undefined : this.#followed.follow(pending.digest, a.tempPath, a.last));
      return true;
    }
    if (m.t === "wharf.progress") {
      this.#followed.deliver(m.digest, m.p);
      return true;
    }
    return false;
  }
}
