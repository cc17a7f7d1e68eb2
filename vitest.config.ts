import { defineConfig } from "vitest/config";

// Unit tests sit beside the code (x.ts + x.test.ts); end-to-end tests live in test/e2e and start
// real registries, clients and wharf itself. Files run in separate forks, two at a time (2-core CI).
// The quick benchmark (bench/bench.test.ts) runs after them, and the 2-minute soak
// (bench/soak.test.ts) last: each needs the whole machine, so each has a group of its own.
export default defineConfig({
  test: {
    globalSetup: ["test/support/global-setup.ts"],
    pool: "forks",
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ["default", "./test/support/summary-reporter.ts"],
    projects: [
      {
        extends: true,
        test: {
          name: "wharf",
          include: ["{common,gateway,dns,certs,compose,test}/**/*.test.ts"],
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: "bench",
          include: ["bench/**/*.test.ts"],
          exclude: ["bench/soak.test.ts"],
          sequence: { groupOrder: 1 },
        },
      },
      {
        extends: true,
        test: {
          name: "soak",
          include: ["bench/soak.test.ts"],
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
