// The credentials of an `Authorization` header: Basic (RFC 7617) or Bearer (RFC 6750 section 2.1).
import { WharfError } from "../../common/errors.ts";

export type Credentials =
  | { scheme: "basic"; user: string; password: string }
  | { scheme: "bearer"; token: string }
  | { scheme: "other" };

/** Undefined without a header. Throws UNAUTHORIZED for a malformed Basic or Bearer value. */
export function parseAuthorization(header: string | undefined): Credentials | undefined {
  const value = header?.trim();
  if (!value) return undefined;
  const space = value.indexOf(" ");
  const scheme = (space < 0 ? value : value.slice(0, space)).toLowerCase();
  const rest = space < 0 ? "" : value.slice(space + 1).trim();
  if (scheme === "bearer") {
    if (!/^[A-Za-z0-9._~+/-]+=*$/.test(rest)) throw malformed();
    return { scheme: "bearer", token: rest };
  }
  if (scheme !== "basic") return { scheme: "other" };
  if (!/^[A-Za-z0-9+/]+=*$/.test(rest)) throw malformed();
  const decoded = Buffer.from(rest, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon <= 0) throw malformed();
  // The password is everything after the first colon: it may contain colons itself.
  return { scheme: "basic", user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** The one failure message for bad credentials: it never says whether the user exists. */
export function authenticationFailed(): WharfError {
  return new WharfError("UNAUTHORIZED", "authentication failed");
}

function malformed(): WharfError {
  return new WharfError("UNAUTHORIZED", "malformed Authorization header");
}
