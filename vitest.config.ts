import { defineConfig } from "vitest/config";

// Unit tests sit beside the code (x.ts + x.test.ts); end-to-end tests live in test/e2e and start
// real registries, clients and wharf itself. Files run in separate forks, two at a time (2-core CI).
export default defineConfig({
  test: {
    include: ["{gateway,dns,certs,compose,test,bench}/**/*.test.ts"],
    globalSetup: ["test/support/global-setup.ts"],
    pool: "forks",
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ["default", "./test/support/summary-reporter.ts"],
  },
});
