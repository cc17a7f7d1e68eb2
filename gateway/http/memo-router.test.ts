import { PatternRouter } from "hono/router/pattern-router";
import { describe, expect, it } from "vitest";
import { MemoRouter } from "./memo-router.ts";

function router(): MemoRouter<string> {
  const r = new MemoRouter<string>(new PatternRouter<string>());
  r.add("ALL", "*", "log");
  r.add("GET", "/v2/:name{.+}/manifests/:reference", "manifest");
  r.add("GET", "/v2/:name{.+}/blobs/:digest", "blob");
  return r;
}

const handlers = (r: MemoRouter<string>, method: string, path: string) =>
  r.match(method, path)[0].map(([h, params]) => [h, { ...params }]);

describe("MemoRouter", () => {
  it("answers as the router it wraps, and the same object for a path asked again", () => {
    const r = router();
    const inner = new PatternRouter<string>();
    inner.add("ALL", "*", "log");
    inner.add("GET", "/v2/:name{.+}/manifests/:reference", "manifest");
    inner.add("GET", "/v2/:name{.+}/blobs/:digest", "blob");
    const path = "/v2/library/alpine/manifests/latest";
    expect(handlers(r, "GET", path)).toEqual(
      inner.match("GET", path)[0].map(([h, params]) => [h, { ...params }]),
    );
    expect(handlers(r, "GET", path)).toEqual([
      ["log", {}],
      ["manifest", { name: "library/alpine", reference: "latest" }],
    ]);
    expect(r.match("GET", path)).toBe(r.match("GET", path));
  });

  it("keeps methods and paths apart", () => {
    const r = router();
    const path = "/v2/a/b/blobs/sha256:00";
    expect(handlers(r, "GET", path)[1]).toEqual(["blob", { name: "a/b", digest: "sha256:00" }]);
    expect(handlers(r, "PUT", path)).toEqual([["log", {}]]);
    expect(handlers(r, "GET", "/v2/a/blobs/sha256:00")[1]).toEqual([
      "blob",
      { name: "a", digest: "sha256:00" },
    ]);
  });

  it("forgets its answers when a route is added", () => {
    const r = router();
    const path = "/v2/a/tags/list";
    expect(handlers(r, "GET", path)).toEqual([["log", {}]]);
    r.add("GET", "/v2/:name{.+}/tags/list", "tags");
    expect(handlers(r, "GET", path)).toEqual([
      ["log", {}],
      ["tags", { name: "a" }],
    ]);
  });

  it("stays bounded: unique paths (upload sessions) do not grow it without end", () => {
    const r = router();
    const first = r.match("GET", "/v2/a/manifests/0");
    for (let i = 1; i <= 5000; i++) r.match("GET", `/v2/a/manifests/${i}`);
    // the first answer was dropped when the memo started over: asked again, it is a new object
    expect(r.match("GET", "/v2/a/manifests/0")).not.toBe(first);
    expect(handlers(r, "GET", "/v2/a/manifests/0")[1]).toEqual(["manifest", { name: "a", reference: "0" }]);
  });
});
