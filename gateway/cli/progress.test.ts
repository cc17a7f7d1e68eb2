import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createProgress } from "./progress.ts";

function capture(isTTY: boolean): Writable & { isTTY: boolean; text: () => string } {
  const chunks: string[] = [];
  const w = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  return Object.assign(w, { isTTY, text: () => chunks.join("") });
}

describe("createProgress without a terminal", () => {
  it("prints plain lines at most once per interval, and a last line on stop", () => {
    let t = 0;
    const out = capture(false);
    const p = createProgress({ total: 400, label: "verify", stream: out, intervalMs: 5000, now: () => t });
    for (let i = 0; i < 120; i++) {
      t += 10;
      p.increment(1, 10 * 1024 * 1024);
    }
    expect(out.text()).toBe(""); // 1.2 s: nothing yet
    t = 5000;
    p.increment(0);
    t = 6000;
    p.increment(280, 0);
    t = 7500;
    p.stop();
    p.stop();
    expect(out.text().split("\n")).toEqual([
      "verify: 120/400 blobs, 1.2 GiB",
      "verify: 400/400 blobs, 1.2 GiB in 7.5 s",
      "",
    ]);
    expect(out.text()).not.toContain("\r");
  });

  it("leaves out the size when no bytes were counted, and takes a unit", () => {
    let t = 0;
    const out = capture(false);
    const p = createProgress({
      total: 3,
      label: "gc",
      unit: "records",
      stream: out,
      intervalMs: 1,
      now: () => t,
    });
    t = 2;
    p.increment();
    p.stop();
    expect(out.text()).toBe("gc: 1/3 records\ngc: 1/3 records in 0.0 s\n");
  });
});

describe("createProgress on a terminal", () => {
  it("draws a bar", () => {
    const out = capture(true);
    const p = createProgress({ total: 2, label: "verify", stream: out });
    p.increment(2, 2048);
    p.stop();
    expect(out.text()).toContain("verify [");
    expect(out.text()).toContain("2/2 blobs | 2.0 KiB");
  });
});
