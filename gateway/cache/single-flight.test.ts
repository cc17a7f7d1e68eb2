import { describe, expect, it } from "vitest";
import { SingleFlight } from "./single-flight.ts";

describe("single flight", () => {
  it("shares one running task per key and forgets it once settled", async () => {
    const f = new SingleFlight<number>();
    let runs = 0;
    const task = async () => {
      runs++;
      await new Promise((r) => setTimeout(r, 10));
      return runs;
    };
    const calls = Array.from({ length: 50 }, () => f.run("a", task));
    expect(calls.filter((c) => !c.joined)).toHaveLength(1);
    expect(await Promise.all(calls.map((c) => c.result))).toEqual(Array(50).fill(1));
    expect(f.size).toBe(0);
    expect(await f.run("a", task).result).toBe(2);
  });

  it("shares a failure, then lets the next caller try again, also for a task that throws at once", async () => {
    const f = new SingleFlight<number>();
    const boom = () => {
      throw new Error("boom");
    };
    const a = f.run("k", boom);
    const b = f.run("k", boom);
    expect(b.joined).toBe(true);
    await expect(a.result).rejects.toThrow("boom");
    await expect(b.result).rejects.toThrow("boom");
    expect(f.has("k")).toBe(false);
    expect(await f.run("k", async () => 7).result).toBe(7);
  });
});
