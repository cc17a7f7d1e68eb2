// hono's PatternRouter runs every route's regular expression for each request and builds new
// match arrays; under a manifest storm that was the largest single allocation of a request (about
// 9 % of the bytes the sampling heap profiler saw), and the young-generation churn is what pushes
// request state into the old generation. Clients ask for the same few paths again and again
// (a tag's manifest, its blobs), so answers are remembered per method and path. A match result
// depends only on the routes, which are all added before the first request; adding one forgets
// everything. Bounded: the memo starts over when full (upload URLs are unique per session).
import type { Result, Router } from "hono/router";

const MAX_ENTRIES = 2048;

export class MemoRouter<T> implements Router<T> {
  readonly name: string;
  readonly #inner: Router<T>;
  #memo = new Map<string, Result<T>>();

  constructor(inner: Router<T>) {
    this.#inner = inner;
    this.name = `Memo(${inner.name})`;
  }

  add(method: string, path: string, handler: T): void {
    this.#memo.clear();
    this.#inner.add(method, path, handler);
  }

  match(method: string, path: string): Result<T> {
    const key = `${method} ${path}`;
    let result = this.#memo.get(key);
    if (result === undefined) {
      result = this.#inner.match(method, path);
      if (this.#memo.size >= MAX_ENTRIES) this.#memo.clear();
      this.#memo.set(key, result);
    }
    return result;
  }
}
