// The route layer against in-memory registries (registry-doubles.test-support.ts) on a real
// @hono/node-server: every endpoint's status, headers and body, access checks, the guard, the
// request log. The real backends are proven end to end in test/e2e/oci-conformance.test.ts.
import { createServer, request, type Server } from "node:http";
import { connect, createServer as createH2Server, type Http2Server } from "node:http2";
import type { AddressInfo } from "node:net";
import { getRequestListener } from "@hono/node-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Authenticator } from "../access/authenticator.ts";
import { buildConfig } from "../config/load-config.ts";
import { silentLogger } from "../log.ts";
import type { Registry } from "../registry/registry.ts";
import { createRegistryApp, type RequestEvent } from "./registry-app.ts";
import {
  ALICE,
  ALICE_WRONG,
  FixedProxyRegistry,
  fakeAuthenticator,
  MemoryHostedRegistry,
  PULL_TOKEN,
  sha256,
} from "./registry-doubles.test-support.ts";
import { RegistryRouter } from "./registry-router.ts";

const { config } = buildConfig({
  registries: {
    "docker.io": { upstream: "https://registry-1.docker.io.invalid" },
    "ghcr.io": { upstream: "https://ghcr.io.invalid" },
    "registry.internal": { hosted: {}, aliases: ["wharf.example.internal"] },
    "locked.internal": { hosted: { anonymousPull: false } },
  },
});
const router = new RegistryRouter(config);
const manifestBody = Buffer.from(JSON.stringify({ schemaVersion: 2, layers: [] }));
const blobBytes = Buffer.from("0123456789abcdef");
const proxy = new FixedProxyRegistry("docker.io", manifestBody, blobBytes);

interface Gateway {
  url: string;
  hosted: MemoryHostedRegistry;
  events: RequestEvent[];
  server: Server;
}

const servers: { close(): void }[] = [];

async function gateway(opts: { authenticator?: Authenticator; servername?: string } = {}): Promise<Gateway> {
  const hosted = new MemoryHostedRegistry("registry.internal");
  const registries = new Map<string, Registry>([
    ["docker.io", proxy],
    ["ghcr.io", new FixedProxyRegistry("ghcr.io", manifestBody, blobBytes)],
    ["registry.internal", hosted],
    ["locked.internal", new MemoryHostedRegistry("locked.internal", { anonymousPull: false })],
  ]);
  const events: RequestEvent[] = [];
  const app = createRegistryApp({
    router,
    registries,
    authenticator: opts.authenticator,
    log: silentLogger,
    servernameOf: opts.servername ? () => opts.servername : undefined,
    onRequest: (e) => events.push({ ...e }),
  });
  const server = createServer(getRequestListener(app.fetch));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hosted, events, server };
}

afterAll(() => {
  for (const s of servers) s.close();
});

/** A request exactly as written (fetch normalises paths and will not send another Host). */
function rawGet(
  url: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(url);
    const req = request({ hostname, port, path, headers }, (res) => {
      let body = "";
      res.on("data", (c) => {
        body += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

async function ociError(res: Response): Promise<string | undefined> {
  const body = (await res.json()) as { errors?: { code: string }[] };
  return body.errors?.[0]?.code;
}

describe("pull routes", () => {
  let g: Gateway;
  beforeAll(async () => {
    g = await gateway();
  });

  it("answers /v2/ with the API version header", async () => {
    const res = await fetch(`${g.url}/v2/`);
    expect(res.status).toBe(200);
    expect(res.headers.get("docker-distribution-api-version")).toBe("registry/2.0");
  });

  it("serves a manifest by GET and HEAD with its digest; one event per request with a request id", async () => {
    const before = g.events.length;
    const get = await fetch(`${g.url}/v2/library/alpine/manifests/latest`);
    expect(get.status).toBe(200);
    expect(Buffer.from(await get.arrayBuffer())).toEqual(manifestBody);
    expect(get.headers.get("docker-content-digest")).toBe(sha256(manifestBody));
    expect(get.headers.get("etag")).toBe(`"${sha256(manifestBody)}"`);
    const head = await fetch(`${g.url}/v2/library/alpine/manifests/latest`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe(String(manifestBody.length));
    expect((await head.arrayBuffer()).byteLength).toBe(0);
    const events = g.events.slice(before);
    expect(events).toHaveLength(2);
    expect(events[0]).toMatchObject({
      registry: "docker.io",
      repository: "library/alpine",
      kind: "manifest",
      method: "GET",
      status: 200,
      outcome: "hit",
      bytes: manifestBody.length,
    });
    expect(events[1]).toMatchObject({ method: "HEAD", status: 200, bytes: 0 });
    expect(events[0]?.requestId).toMatch(/^[0-9a-z]+-[0-9a-z]+$/);
    expect(events[0]?.requestId).not.toBe(events[1]?.requestId);
  });

  it("answers a tag no registry could hold with 404 MANIFEST_UNKNOWN (conformance), body-less for HEAD", async () => {
    const get = await fetch(`${g.url}/v2/library/alpine/manifests/.INVALID_MANIFEST_NAME`);
    expect(get.status).toBe(404);
    expect(await ociError(get)).toBe("MANIFEST_UNKNOWN");
    const head = await fetch(`${g.url}/v2/library/alpine/manifests/.INVALID_MANIFEST_NAME`, {
      method: "HEAD",
    });
    expect(head.status).toBe(404);
    expect((await head.arrayBuffer()).byteLength).toBe(0);
  });

  it("serves blob ranges: one range is a 206, several or an unknown unit the whole blob (RFC 9110 14.2)", async () => {
    const url = `${g.url}/v2/library/alpine/blobs/${sha256(blobBytes)}`;
    const part = await fetch(url, { headers: { range: "bytes=2-5" } });
    expect(part.status).toBe(206);
    expect(part.headers.get("content-range")).toBe(`bytes 2-5/${blobBytes.length}`);
    expect(await part.text()).toBe("2345");
    for (const range of ["bytes=0-1,4-5", "items=0-1"]) {
      const whole = await fetch(url, { headers: { range } });
      expect(whole.status).toBe(200);
      expect(await whole.text()).toBe(blobBytes.toString());
    }
    const beyond = await fetch(url, { headers: { range: "bytes=100-" } });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get("content-range")).toBe(`bytes */${blobBytes.length}`);
  });

  it("refuses raw '..', '%' and '//' paths before routing", async () => {
    for (const p of ["/v2/a/%2e%2e/b/manifests/1", "/v2/a/../b/manifests/1", "/v2/a//b/manifests/1"]) {
      const res = await rawGet(g.url, p);
      expect(res.status, p).toBe(400);
      expect(res.body).toContain("NAME_INVALID");
    }
  });

  it("tells a known endpoint with the wrong method (405) from an unknown path (404)", async () => {
    const patch = await fetch(`${g.url}/v2/library/alpine/manifests/latest`, { method: "PATCH" });
    expect(patch.status).toBe(405);
    expect(await ociError(patch)).toBe("UNSUPPORTED");
    const unknown = await fetch(`${g.url}/v2/library/alpine/nothing`);
    expect(unknown.status).toBe(404);
  });

  it("gives a 401 from an upstream a challenge (issue 13 item 5)", async () => {
    proxy.refuse = true;
    try {
      const res = await fetch(`${g.url}/v2/library/alpine/manifests/latest`);
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toBe('Basic realm="wharf"');
      expect(g.events.at(-1)).toMatchObject({
        outcome: "error",
        errorCode: "UNAUTHORIZED",
        upstreamStatus: 401,
      });
    } finally {
      proxy.refuse = false;
    }
  });
});

describe("push routes", () => {
  let g: Gateway;
  beforeAll(async () => {
    g = await gateway({ authenticator: fakeAuthenticator() });
  });
  const auth = { authorization: ALICE };

  it("refuses pushes to a proxied registry with 405 UNSUPPORTED, credentials or not", async () => {
    for (const [method, path] of [
      ["POST", "/v2/library/alpine/blobs/uploads/"],
      ["PUT", "/v2/library/alpine/manifests/latest"],
      ["DELETE", `/v2/library/alpine/blobs/${sha256(blobBytes)}`],
      ["PATCH", "/v2/ghcr.io/acme/app/blobs/uploads/x"],
    ] as const) {
      const res = await fetch(`${g.url}${path}`, { method, headers: auth });
      expect(res.status, `${method} ${path}`).toBe(405);
      expect(await ociError(res)).toBe("UNSUPPORTED");
    }
  });

  it("asks for credentials with a Bearer challenge naming the scope; a wrong password is 401 too", async () => {
    const url = `${g.url}/v2/registry.internal/team/app/blobs/uploads/`;
    const none = await fetch(url, { method: "POST" });
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toBe(
      'Bearer realm="http://' +
        new URL(g.url).host +
        '/auth/token",service="wharf",scope="repository:registry.internal/team/app:pull,push"',
    );
    const wrong = await fetch(url, { method: "POST", headers: { authorization: ALICE_WRONG } });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("www-authenticate")).toContain('error="invalid_token"');
    const pullOnly = await fetch(url, { method: "POST", headers: { authorization: PULL_TOKEN } });
    expect(pullOnly.status).toBe(401);
    expect(pullOnly.headers.get("www-authenticate")).toContain('error="insufficient_scope"');
    expect(g.hosted.uploads.size).toBe(0);
  });

  it("runs a chunked push through the path prefix: every Location keeps the prefix", async () => {
    const layer = Buffer.from("layer bytes, in two chunks");
    const post = await fetch(`${g.url}/v2/registry.internal/team/app/blobs/uploads/`, {
      method: "POST",
      headers: auth,
    });
    expect(post.status).toBe(202);
    const location = post.headers.get("location") as string;
    expect(location).toMatch(/^\/v2\/registry\.internal\/team\/app\/blobs\/uploads\/[0-9a-f-]+$/);
    expect(post.headers.get("range")).toBe("0-0");
    const first = await fetch(`${g.url}${location}`, {
      method: "PATCH",
      headers: { ...auth, "content-type": "application/octet-stream", "content-range": "0-9" },
      body: layer.subarray(0, 10),
    });
    expect(first.status).toBe(202);
    expect(first.headers.get("range")).toBe("0-9");
    const outOfOrder = await fetch(`${g.url}${first.headers.get("location")}`, {
      method: "PATCH",
      headers: { ...auth, "content-range": "20-29" },
      body: layer.subarray(20),
    });
    expect(outOfOrder.status).toBe(416);
    const status = await fetch(`${g.url}${location}`, { headers: auth });
    expect(status.status).toBe(204);
    expect(status.headers.get("range")).toBe("0-9");
    const put = await fetch(`${g.url}${location}?digest=${sha256(layer)}`, {
      method: "PUT",
      headers: { ...auth, "content-type": "application/octet-stream" },
      body: layer.subarray(10),
    });
    expect(put.status).toBe(201);
    expect(put.headers.get("location")).toBe(`/v2/registry.internal/team/app/blobs/${sha256(layer)}`);
    expect(put.headers.get("docker-content-digest")).toBe(sha256(layer));
    const back = await fetch(`${g.url}${put.headers.get("location")}`);
    expect(await back.text()).toBe(layer.toString());
  });

  it("puts a manifest by tag, lists tags with a prefixed Link, finds referrers by artifactType", async () => {
    const image = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json" }),
    );
    const put = await fetch(`${g.url}/v2/registry.internal/team/app/manifests/v1`, {
      method: "PUT",
      headers: { ...auth, "content-type": "application/vnd.oci.image.manifest.v1+json" },
      body: image,
    });
    expect(put.status).toBe(201);
    expect(put.headers.get("docker-content-digest")).toBe(sha256(image));
    expect(put.headers.get("location")).toBe(`/v2/registry.internal/team/app/manifests/${sha256(image)}`);
    const sbom = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        artifactType: "application/spdx+json",
        subject: { digest: sha256(image), size: image.length },
      }),
    );
    const putSbom = await fetch(`${g.url}/v2/registry.internal/team/app/manifests/v2`, {
      method: "PUT",
      headers: { ...auth, "content-type": "application/vnd.oci.image.manifest.v1+json" },
      body: sbom,
    });
    expect(putSbom.headers.get("oci-subject")).toBe(sha256(image));
    const tags = await fetch(`${g.url}/v2/registry.internal/team/app/tags/list?n=1`);
    expect(await tags.json()).toEqual({ name: "team/app", tags: ["v1"] });
    expect(tags.headers.get("link")).toBe(
      '</v2/registry.internal/team/app/tags/list?n=1&last=v1>; rel="next"',
    );
    const refs = await fetch(
      `${g.url}/v2/registry.internal/team/app/referrers/${sha256(image)}?artifactType=application/spdx%2Bjson`,
    );
    expect(refs.status).toBe(200);
    expect(refs.headers.get("content-type")).toBe("application/vnd.oci.image.index.v1+json");
    expect(refs.headers.get("oci-filters-applied")).toBe("artifactType");
    expect(((await refs.json()) as { manifests: unknown[] }).manifests).toHaveLength(1);
    const big = await fetch(`${g.url}/v2/registry.internal/team/app/manifests/big`, {
      method: "PUT",
      headers: { ...auth, "content-type": "application/vnd.oci.image.manifest.v1+json" },
      body: Buffer.alloc(5 * 1024 * 1024, 32),
    });
    expect(big.status).toBe(413);
    const del = await fetch(`${g.url}/v2/registry.internal/team/app/manifests/v2`, {
      method: "DELETE",
      headers: auth,
    });
    expect(del.status).toBe(202);
  });

  it("mounts a blob another repository has (201) and keeps ?ns= on Location", async () => {
    const bytes = Buffer.from("mountable");
    g.hosted.blobs.set(sha256(bytes), bytes);
    const res = await fetch(
      `${g.url}/v2/team/other/blobs/uploads/?mount=${sha256(bytes)}&from=team/app&ns=registry.internal`,
      { method: "POST", headers: auth },
    );
    expect(res.status).toBe(201);
    expect(res.headers.get("location")).toBe(`/v2/team/other/blobs/${sha256(bytes)}?ns=registry.internal`);
  });

  it("needs an identity to pull from a hosted registry with anonymousPull: false", async () => {
    const res = await fetch(`${g.url}/v2/locked.internal/team/app/tags/list`);
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toContain('scope="repository:locked.internal/team/app:pull"');
    const ok = await fetch(`${g.url}/v2/locked.internal/team/app/manifests/v1`, { headers: auth });
    expect(ok.status).toBe(404);
  });

  it("mounts the token endpoint and lists the catalog of a hosted registry", async () => {
    const token = await fetch(`${g.url}/auth/token`);
    expect(await token.json()).toEqual({ token: "pull-only" });
    const cat = await fetch(`${g.url}/v2/_catalog?ns=registry.internal`);
    expect(cat.status).toBe(200);
    expect(await cat.json()).toEqual({ repositories: ["team/app"] });
    const proxied = await fetch(`${g.url}/v2/_catalog`);
    expect(proxied.status).toBe(405);
  });
});

describe("without users (no access.htpasswd)", () => {
  it("refuses pushes with 403 DENIED saying how to enable them", async () => {
    const g = await gateway();
    const res = await fetch(`${g.url}/v2/registry.internal/team/app/blobs/uploads/`, { method: "POST" });
    expect(res.status).toBe(403);
    const body = (await res.json()) as { errors: { code: string; message: string }[] };
    expect(body.errors[0]?.code).toBe("DENIED");
    expect(body.errors[0]?.message).toContain("access.htpasswd");
  });
});

describe("misdirected requests on the TLS gateway", () => {
  it("421 when Host names another registry than the TLS server name", async () => {
    const g = await gateway({ servername: "docker.io" });
    const res = await rawGet(g.url, "/v2/library/alpine/manifests/latest", { host: "ghcr.io" });
    expect(res.status).toBe(421);
    const same = await rawGet(g.url, "/v2/library/alpine/manifests/latest", { host: "docker.io:443" });
    expect(same.status).toBe(200);
  });

  it("421 when HTTP/2 :authority names another registry (RFC 9113 8.3.1)", async () => {
    const app = createRegistryApp({
      router,
      registries: new Map<string, Registry>([["docker.io", proxy]]),
      log: silentLogger,
      servernameOf: () => "docker.io",
    });
    const h2: Http2Server = createH2Server(getRequestListener(app.fetch));
    await new Promise<void>((r) => h2.listen(0, "127.0.0.1", r));
    servers.push(h2);
    const client = connect(`http://127.0.0.1:${(h2.address() as AddressInfo).port}`);
    try {
      const status = (authority: string) =>
        new Promise<number>((resolve, reject) => {
          const req = client.request({
            ":path": "/v2/library/alpine/manifests/latest",
            ":authority": authority,
          });
          req.on("response", (h) => resolve(Number(h[":status"])));
          req.on("error", reject);
          req.resume();
          req.end();
        });
      expect(await status("ghcr.io")).toBe(421);
      expect(await status("docker.io:443")).toBe(200);
    } finally {
      client.close();
    }
  });
});
