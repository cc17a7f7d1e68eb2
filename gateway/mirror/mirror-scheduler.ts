// Runs scheduled mirror entries inside `wharf serve`: one sync at a time, each entry when due.
// Due times count from the last success stored in the database, so a restart catches up at once
// on an entry whose run was missed (or failed) instead of waiting a whole interval. A little
// jitter (a tenth of the interval, at most a minute) keeps many wharfs off upstream's same second.
// Replicas sharing a store: a due entry is synced under the store's lease, so one replica runs it;
// the others skip it (and log it), then read the holder's success and schedule from it.
import { Cron } from "croner";
import type { Logger } from "../log.ts";
import type { MirrorEntry } from "./mirror-entries.ts";
import type { MirrorLease, MirrorStore } from "./mirror-store-api.ts";
import { entryId } from "./sync-runner.ts";

const MAX_JITTER_MS = 60_000;
const TICK_MS = 500;
/** After a failure to reach the store, the entry is tried again this soon (at most its interval). */
const RETRY_MS = 60_000;

export interface SchedulerDeps {
  entries: MirrorEntry[];
  store: MirrorStore;
  run: (entry: MirrorEntry) => Promise<unknown>;
  log: Logger;
  now?: () => number;
  random?: () => number;
}

export class MirrorScheduler {
  readonly #d: SchedulerDeps;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #due = new Map<string, number>();
  /** Per entry, the last success the due time was computed from. */
  readonly #basis = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  /** The entry being synced now (status page). */
  current: string | null = null;

  constructor(deps: SchedulerDeps) {
    this.#d = deps;
    this.#now = deps.now ?? Date.now;
    this.#random = deps.random ?? Math.random;
  }

  get scheduled(): MirrorEntry[] {
    return this.#d.entries.filter((e) => e.schedule !== undefined);
  }

  /** When the entry runs next (epoch ms), once started. */
  nextRun(entry: MirrorEntry): number | undefined {
    return this.#due.get(entryId(entry));
  }

  async start(): Promise<void> {
    const now = this.#now();
    for (const e of this.scheduled) {
      const last = (await this.#d.store.run(entryId(e)).catch(() => undefined))?.lastSuccess ?? undefined;
      if (last !== undefined) this.#basis.set(entryId(e), last);
      // never synced, or a run missed while wharf was down: now (catch up); else when due
      const due = last === undefined ? now : this.#next(e, last);
      this.#due.set(entryId(e), Math.max(now, due));
    }
    if (this.#due.size === 0) return;
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
    this.#timer.unref();
    this.#tick();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** The time after `from` at which the entry is due, with jitter. */
  #next(e: MirrorEntry, from: number): number {
    const s = e.schedule;
    if (!s) return Number.POSITIVE_INFINITY;
    if (s.kind === "every") return from + s.ms + this.#random() * Math.min(s.ms / 10, MAX_JITTER_MS);
    const cron = new Cron(s.text, { paused: true });
    const first = cron.nextRun(new Date(from))?.getTime();
    const second = first === undefined ? undefined : cron.nextRun(new Date(first))?.getTime();
    cron.stop();
    if (first === undefined) return Number.POSITIVE_INFINITY;
    const gap = second === undefined ? MAX_JITTER_MS * 10 : second - first;
    return first + this.#random() * Math.min(gap / 10, MAX_JITTER_MS);
  }

  #tick(): void {
    if (this.#running || !this.#timer) return;
    const now = this.#now();
    const due = this.scheduled
      .filter((e) => (this.#due.get(entryId(e)) ?? Number.POSITIVE_INFINITY) <= now)
      .sort((a, b) => (this.#due.get(entryId(a)) ?? 0) - (this.#due.get(entryId(b)) ?? 0));
    const entry = due[0];
    if (!entry) return;
    this.#running = this.#runOne(entry).finally(() => {
      this.#running = undefined;
    });
  }

  async #runOne(entry: MirrorEntry): Promise<void> {
    const id = entryId(entry);
    let lease: MirrorLease | undefined;
    try {
      lease = await this.#d.store.lease(id);
    } catch (e) {
      this.#d.log.warn({ entry: id, err: (e as Error).message }, "mirror store unreachable; sync postponed");
      this.#due.set(id, this.#now() + Math.min(RETRY_MS, this.#interval(entry)));
      return;
    }
    if (!lease) {
      this.#d.log.info({ entry: id }, "mirror sync skipped: another replica is running it");
      this.#due.set(id, this.#next(entry, this.#now()));
      return;
    }
    try {
      // another replica (or the CLI) may have synced it since this one planned the run
      const last = (await this.#d.store.run(id))?.lastSuccess ?? undefined;
      if (last !== undefined && last > (this.#basis.get(id) ?? Number.NEGATIVE_INFINITY)) {
        this.#basis.set(id, last);
        const due = this.#next(entry, last);
        if (due > this.#now()) {
          this.#d.log.info(
            { entry: id, lastSuccess: new Date(last).toISOString() },
            "mirror sync skipped: synced elsewhere",
          );
          this.#due.set(id, due);
          return;
        }
      }
      this.current = id;
      try {
        await this.#d.run(entry);
      } catch (e) {
        this.#d.log.error({ entry: id, err: (e as Error).message }, "scheduled mirror sync failed");
      } finally {
        this.current = null;
        this.#basis.set(id, this.#now());
        this.#due.set(id, this.#next(entry, this.#now()));
      }
    } catch (e) {
      this.#d.log.warn({ entry: id, err: (e as Error).message }, "mirror store unreachable; sync postponed");
      this.#due.set(id, this.#now() + Math.min(RETRY_MS, this.#interval(entry)));
    } finally {
      await lease.release();
    }
  }

  /** The entry's interval, without jitter (cron: about a day at most matters here). */
  #interval(e: MirrorEntry): number {
    return e.schedule?.kind === "every" ? e.schedule.ms : RETRY_MS;
  }
}
