import pino from "pino";
import { describe, expect, it } from "vitest";
import { PrefetchQueue } from "./prefetch-queue.ts";

const log = pino({ level: "silent" });

describe("PrefetchQueue", () => {
  it("runs at most `concurrency` tasks at a time, all of them in order, failures included", async () => {
    const q = new PrefetchQueue(2, log);
    let running = 0;
    let peak = 0;
    const order: number[] = [];
    const done = Array.from({ length: 6 }, (_, i) => {
      return new Promise<void>((resolve) => {
        q.add([
          async () => {
            running++;
            peak = Math.max(peak, running);
            order.push(i);
            await new Promise((r) => setTimeout(r, 5));
            running--;
            resolve();
            if (i === 1) throw new Error("upstream said no");
          },
        ]);
      });
    });
    expect(q.running).toBe(2);
    expect(q.waiting).toBe(4);
    await Promise.all(done);
    await new Promise((r) => setTimeout(r, 5));
    expect(peak).toBe(2);
    expect(order).toEqual([0, 1, 2, 3, 4, 5]);
    expect(q.running).toBe(0);
  });

  it("puts `first` tasks before those already waiting, in their own order", async () => {
    const q = new PrefetchQueue(1, log);
    const order: string[] = [];
    const task = (name: string) => async () => {
      order.push(name);
      await new Promise((r) => setTimeout(r, 2));
    };
    q.add([task("running")]);
    q.add([task("later")]);
    q.add([task("now"), task("next")], { first: true });
    while (q.running > 0 || q.waiting > 0) await new Promise((r) => setTimeout(r, 5));
    expect(order).toEqual(["running", "now", "next", "later"]);
  });

  it("does nothing when turned off (concurrency 0)", () => {
    const q = new PrefetchQueue(0, log);
    let ran = false;
    q.add([
      async () => {
        ran = true;
      },
    ]);
    expect(ran).toBe(false);
    expect(q.waiting).toBe(0);
  });
});
