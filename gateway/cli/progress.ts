// Progress for long CLI work (cache verify, cache gc, later mirror sync): a bar on a terminal, and
// plain lines every few seconds otherwise ("verify: 120/400 blobs, 1.2 GiB"), because CI logs and
// pipes keep every carriage-return redraw of a bar as noise.
import type { Writable } from "node:stream";
import { Presets, SingleBar } from "cli-progress";
import { formatBytes } from "../config/units.ts";

export interface Progress {
  /** `n` more items done (default 1), `bytes` more bytes processed. */
  increment(n?: number, bytes?: number): void;
  stop(): void;
}

export interface ProgressOptions {
  total: number;
  label: string;
  /** What is counted; default "blobs". */
  unit?: string;
  stream?: Writable & { isTTY?: boolean };
  /** Plain mode: at most one line per interval (default 5 s), and a last line on stop. */
  intervalMs?: number;
  now?: () => number;
}

export function createProgress(opts: ProgressOptions): Progress {
  const stream = opts.stream ?? process.stderr;
  return stream.isTTY === true ? barProgress(opts, stream) : lineProgress(opts, stream);
}

function barProgress(opts: ProgressOptions, stream: Writable): Progress {
  const unit = opts.unit ?? "blobs";
  const bar = new SingleBar(
    {
      format: `${opts.label} [{bar}] {percentage}% | {value}/{total} ${unit} | {size} | eta {eta_formatted}`,
      stream: stream as NodeJS.WriteStream,
      hideCursor: true,
      etaBuffer: 50,
    },
    Presets.shades_classic,
  );
  let bytes = 0;
  bar.start(opts.total, 0, { size: formatBytes(0) });
  return {
    increment(n = 1, more = 0) {
      bytes += more;
      bar.increment(n, { size: formatBytes(bytes) });
    },
    stop() {
      bar.stop();
    },
  };
}

function lineProgress(opts: ProgressOptions, stream: Writable): Progress {
  const unit = opts.unit ?? "blobs";
  const now = opts.now ?? Date.now;
  const interval = opts.intervalMs ?? 5000;
  const started = now();
  let last = started;
  let done = 0;
  let bytes = 0;
  let stopped = false;
  const line = (suffix = "") => {
    const size = bytes > 0 ? `, ${formatBytes(bytes)}` : "";
    stream.write(`${opts.label}: ${done}/${opts.total} ${unit}${size}${suffix}\n`);
  };
  return {
    increment(n = 1, more = 0) {
      done += n;
      bytes += more;
      const t = now();
      if (t - last >= interval) {
        last = t;
        line();
      }
    },
    stop() {
      if (stopped) return;
      stopped = true;
      line(` in ${((now() - started) / 1000).toFixed(1)} s`);
    },
  };
}
