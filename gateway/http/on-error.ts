// The one error handler of the registry app: any error becomes the OCI JSON error body
// (distribution spec, "Error Codes") with its status and headers; a HEAD gets the status and
// headers alone. A 401 always carries WWW-Authenticate (RFC 9110 11.6.1: clients need it to start
// their authentication), also when the 401 reports an upstream refusing wharf's own credentials.
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import type { ErrorHandler } from "hono";
import { isWharfError, WharfError } from "../../common/errors.ts";
import type { Authenticator } from "../access/authenticator.ts";
import type { Logger } from "../log.ts";
import { type Env, realmOf } from "./http-env.ts";
import { API_VERSION_HEADER } from "./write-reply.ts";

/** The challenge when wharf has no users to offer (no access.htpasswd): Basic, which no one can pass. */
export const NO_USERS_CHALLENGE = 'Basic realm="wharf"';

export function registryErrorHandler(opts: {
  log: Logger;
  authenticator?: Authenticator;
}): ErrorHandler<Env> {
  return function onRegistryError(e, c) {
    const err = isWharfError(e) ? e : new WharfError("INTERNAL", "internal error", { cause: e });
    const state = c.get("state");
    if (!isWharfError(e)) (state?.log ?? opts.log).error({ err: e }, "unexpected error");
    if (state) {
      const ev = state.event;
      ev.status = err.status;
      ev.outcome = "error";
      ev.errorCode = err.code;
      if (err.upstreamStatus !== undefined) ev.upstreamStatus = err.upstreamStatus;
      state.error = err.message;
    }
    const res = c.env.outgoing;
    if (res.headersSent) {
      // a body already under way cannot turn into an error: the client must see a broken transfer
      res.destroy();
      return RESPONSE_ALREADY_SENT;
    }
    const headers: Record<string, string> = { ...API_VERSION_HEADER, ...err.headers };
    if (err.status === 401 && headers["www-authenticate"] === undefined)
      headers["www-authenticate"] = opts.authenticator
        ? opts.authenticator.challenge(realmOf(c))
        : NO_USERS_CHALLENGE;
    if (c.req.method === "HEAD") return c.body(null, err.status as 400, headers);
    return c.json(err.toOciBody(), err.status as 400, headers);
  };
}
