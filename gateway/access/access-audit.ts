// The audit of access decisions: every decision on a registry request rides on that request's own
// log line (`access: {client, action, decision, by}`, so the hot path logs no extra line); decisions
// of the token endpoint get a line of their own. Denials are counted (wharf_access_denied_total) and
// the latest are kept for the status page. Only names and addresses appear: never a credential.
import type { Logger } from "../log.ts";
import type { Action, Identity } from "./authenticator.ts";

export interface AccessNote {
  /** "user:alice", "robot:ci-bot", "upstream:bob", or "anonymous". */
  client: string;
  address: string | undefined;
  action: Action;
  decision: "allowed" | "denied";
  /** "rule 2", "default", "upstream 403", "token", … */
  by: string;
}

export interface Denial extends AccessNote {
  at: string;
  registry: string;
  repository: string;
}

const RECENT = 50;

export function clientLabel(identity: Identity): string {
  return identity.kind === "anonymous" ? "anonymous" : `${identity.kind}:${identity.name}`;
}

export class AccessAudit {
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #recent: Denial[] = [];
  /** Denials by registry and action, for /metrics. */
  readonly denied = new Map<string, number>();

  constructor(log: Logger, now: () => number = Date.now) {
    this.#log = log;
    this.#now = now;
  }

  /** Counts a denial (the caller logs the decision on its request line). */
  noteDenial(registry: string, repository: string, note: AccessNote): void {
    const key = `${registry}\0${note.action}`;
    this.denied.set(key, (this.denied.get(key) ?? 0) + 1);
    this.#recent.push({ ...note, registry, repository, at: new Date(this.#now()).toISOString() });
    if (this.#recent.length > RECENT) this.#recent.shift();
  }

  /** A decision with no request line of its own (the token endpoint's grants). */
  logDecision(registry: string, repository: string, note: AccessNote): void {
    this.#log.info({ registry, repository, ...note }, "access decision");
    if (note.decision === "denied") this.noteDenial(registry, repository, note);
  }

  /** The latest denials, newest first. */
  recentDenials(): Denial[] {
    return [...this.#recent].reverse();
  }
}
