// The send timeout (limits.sendTimeout): a response whose writes make no progress for that long is
// torn down, which closes its file handle and ends its "in use" hold. Cheap on the hot path: a
// response costs one Set entry, a chunk one counter increment; a single periodic sweep (running
// only while responses are being sent) compares the counters. Over HTTP/2 only the stalled stream
// is reset (RST_STREAM CANCEL, RFC 9113 section 8.7); the session's other streams carry on.
import { constants as h2 } from "node:http2";
import type { NodeResponse } from "./write-reply.ts";

/** One response being sent. Its writer bumps `ticks` on progress and sets `blocked` while it waits for the client. */
export interface SendWatch {
  ticks: number;
  blocked: boolean;
}

interface Entry extends SendWatch {
  res: NodeResponse;
  seen: number;
  since: number;
}

export interface SendWatchdogOptions {
  /** No write progress for this long → the response is torn down. 0 turns the watchdog off. */
  timeoutMs: number;
  /** After a response was torn down (for metrics and logs). */
  onTimeout?: (res: NodeResponse) => void;
  now?: () => number;
}

const WATCHDOG = Symbol("wharf.sendWatchdog");
type Watched = NodeResponse & { [WATCHDOG]?: SendWatchdog };

export class SendWatchdog {
  private readonly entries = new Set<Entry>();
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  /** Sweep period: a stall is noticed at most timeout + interval after it began. */
  readonly intervalMs: number;

  private readonly opts: SendWatchdogOptions;

  constructor(opts: SendWatchdogOptions) {
    this.opts = opts;
    this.now = opts.now ?? (() => performance.now());
    this.intervalMs = Math.max(100, Math.min(5_000, opts.timeoutMs / 4));
  }

  /** Starts watching `res`; undefined when the watchdog is off. Pair with `unwatch`. */
  watch(res: NodeResponse): SendWatch | undefined {
    if (this.opts.timeoutMs <= 0) return undefined;
    const e: Entry = { res, ticks: 0, blocked: false, seen: -1, since: 0 };
    this.entries.add(e);
    if (!this.timer) {
      this.timer = setInterval(() => this.sweep(), this.intervalMs);
      this.timer.unref();
    }
    return e;
  }

  unwatch(w: SendWatch | undefined): void {
    if (!w) return;
    this.entries.delete(w as Entry);
    if (this.entries.size === 0) this.stopTimer();
  }

  get size(): number {
    return this.entries.size;
  }

  /** Tears down every response that has been blocked without progress for the timeout. */
  sweep(now = this.now()): void {
    for (const e of this.entries) {
      if (!e.blocked || e.ticks !== e.seen) {
        e.seen = e.ticks;
        e.since = now;
        continue;
      }
      if (now - e.since < this.opts.timeoutMs) continue;
      this.entries.delete(e);
      abortResponse(e.res);
      this.opts.onTimeout?.(e.res);
    }
    if (this.entries.size === 0) this.stopTimer();
  }

  stop(): void {
    this.entries.clear();
    this.stopTimer();
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

/**
 * Tears a response down without completing it: the HTTP/2 stream is reset; an HTTP/1.1 socket is
 * destroyed, over plain TCP with a RST so the kernel drops the unsent bytes at once instead of
 * keeping them (and the socket) for a client that reads nothing.
 */
export function abortResponse(res: NodeResponse, code: number = h2.NGHTTP2_CANCEL): void {
  const r = res as NodeResponse & { stream?: { close(code: number): void } };
  if (r.stream) {
    r.stream.close(code);
    return;
  }
  const socket = res.socket;
  if (!socket || socket.destroyed) return;
  try {
    socket.resetAndDestroy(); // throws for a TLS socket (its handle is not a TCP handle)
  } catch {
    socket.destroy();
  }
}

/** Lets the reply writer find the listener's watchdog (set by the listener for each request). */
export function attachSendWatchdog(res: NodeResponse, watchdog: SendWatchdog): void {
  (res as Watched)[WATCHDOG] = watchdog;
}

/** Starts watching `res` if its listener has a watchdog. */
export function watchSend(res: NodeResponse): SendWatch | undefined {
  return (res as Watched)[WATCHDOG]?.watch(res);
}

export function unwatchSend(res: NodeResponse, w: SendWatch | undefined): void {
  if (w) (res as Watched)[WATCHDOG]?.unwatch(w);
}
