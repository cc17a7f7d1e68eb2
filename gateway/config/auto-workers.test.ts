import { describe, expect, it } from "vitest";
import { AUTO_WORKERS_MAX, autoWorkers, quotaCores } from "./auto-workers.ts";

const MiB = 1024 * 1024;

describe("workers: auto", () => {
  it("one per core, capped", () => {
    expect(autoWorkers({ cores: 2 })).toBe(2);
    expect(autoWorkers({ cores: 64 })).toBe(AUTO_WORKERS_MAX);
    expect(autoWorkers({ cores: 1 })).toBe(1);
  });

  it("a container's CPU quota and memory limit win over the host's cores", () => {
    expect(quotaCores("max 100000")).toBeUndefined();
    expect(quotaCores("150000 100000")).toBe(2);
    expect(autoWorkers({ cores: 32, cpuMax: "200000 100000" })).toBe(2);
    // deploy/kubernetes: 512Mi holds the primary and two workers, 256Mi only one process's worth
    expect(autoWorkers({ cores: 32, memoryLimit: 512 * MiB })).toBe(2);
    expect(autoWorkers({ cores: 32, memoryLimit: 256 * MiB })).toBe(1);
    // no limit: constrainedMemory reports about 2^64
    expect(autoWorkers({ cores: 4, memoryLimit: 2 ** 64 })).toBe(4);
  });
});
