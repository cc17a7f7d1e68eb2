// admin.token: every admin route but the liveness probe wants `Authorization: Bearer <token>`
// (RFC 6750 section 2.1). The status page itself may carry it as ?token= once, because a browser
// cannot add a header to a navigation; its script then keeps it in sessionStorage and sends the header.
import { createHash, timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";

const PAGE_401 =
  '<!doctype html><meta charset="utf-8"><title>wharf: token needed</title>' +
  "<p>This wharf has <code>admin.token</code> set: open this page as <code>/?token=&lt;token&gt;</code>.</p>";

/** Equal strings, in time independent of where they differ (hashing first evens out the lengths). */
export function tokensEqual(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

export function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer[ ]+([^\s]+)\s*$/i.exec(header ?? "");
  return m?.[1];
}

export function requireBearer(opts: {
  token: string | null;
  /** Paths that need no token (the liveness probe). */
  open: readonly string[];
  /** Paths a browser navigates to, which may carry the token as ?token=. */
  queryTokenPaths: readonly string[];
}): MiddlewareHandler {
  return async function bearerAuth(c, next) {
    if (opts.token === null || opts.open.includes(c.req.path)) return next();
    const page = opts.queryTokenPaths.includes(c.req.path);
    let given = bearerToken(c.req.header("authorization"));
    if (given === undefined && page) given = c.req.query("token");
    if (given !== undefined && tokensEqual(given, opts.token)) return next();
    const error = given === undefined ? "" : ', error="invalid_token"';
    const headers = { "www-authenticate": `Bearer realm="wharf admin"${error}`, "cache-control": "no-store" };
    if (page) return c.html(PAGE_401, 401, headers);
    const message = "admin.token is set: send Authorization: Bearer <token>";
    return c.json({ error: "unauthorized", message }, 401, headers);
  };
}
