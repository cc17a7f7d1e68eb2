import { defineConfig } from "vitest/config";

// Unit tests sit beside the code (x.ts + x.test.ts); end-to-end tests live in test/e2e and start
// real registries, clients and wharf itself. Files run in separate forks, two at a time (2-core CI).
// The quick benchmark (bench/bench.test.ts) runs last and alone: it needs the whole machine.
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
          include: ["{gateway,dns,certs,compose,test}/**/*.test.ts"],
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: "bench",
          include: ["bench/**/*.test.ts"],
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
