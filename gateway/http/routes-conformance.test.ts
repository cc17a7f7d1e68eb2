// The route layer alone against the OCI conformance suite, all four workflows: the in-memory
// hosted registry of registry-doubles.test-support.ts behind the real hono app, reached by path
// prefix with the Docker token flow. Proves the HTTP side (statuses, headers, Location, Range,
// referrers, pagination) independently of the real hosted backend, which
// test/e2e/oci-conformance.test.ts runs end to end.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { getRequestListener } from "@hono/node-server";
import { afterAll, beforeAll, expect, it } from "vitest";
import { runConformance } from "../../test/support/oci-conformance.ts";
import { makeTempDir, type TempDir } from "../../test/support/temp-dir.ts";
import { buildConfig } from "../config/load-config.ts";
import { silentLogger } from "../log.ts";
import type { Registry } from "../registry/registry.ts";
import { createRegistryApp } from "./registry-app.ts";
import { fakeAuthenticator, MemoryHostedRegistry } from "./registry-doubles.test-support.ts";
import { RegistryRouter } from "./registry-router.ts";

let server: ReturnType<typeof createServer>;
let url: string;
let tmp: TempDir;

beforeAll(async () => {
  tmp = await makeTempDir("wharf-route-conformance-");
  const { config } = buildConfig({
    defaultRegistry: "registry.internal",
    registries: { "registry.internal": { hosted: { allowDelete: true } } },
  });
  const app = createRegistryApp({
    router: new RegistryRouter(config),
    registries: new Map<string, Registry>([
      ["registry.internal", new MemoryHostedRegistry("registry.internal")],
    ]),
    authenticator: fakeAuthenticator(),
    log: silentLogger,
  });
  server = createServer(getRequestListener(app.fetch));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server?.close();
  await tmp?.remove();
});

it("passes pull, push, discovery and management through the path prefix", async () => {
  const s = await runConformance({
    root: url,
    namespace: "registry.internal/conformance/test",
    workflows: "pull,push,discovery,management",
    env: { OCI_USERNAME: "alice", OCI_PASSWORD: "secret" },
    reportDir: tmp.path,
  });
  expect(s.failed, s.failures).toBe(0);
  expect(s.passed).toBeGreaterThanOrEqual(70);
}, 120_000);
