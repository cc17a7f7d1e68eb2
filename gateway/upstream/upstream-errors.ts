// Maps an upstream answer that is not a success into the error the client should see.
import { WharfError } from "../../common/errors.ts";
import type { UpstreamResponse } from "./upstream-client.ts";

export async function upstreamStatusError(
  res: UpstreamResponse,
  what: "manifest" | "blob" | "tags",
  registry: string,
): Promise<WharfError> {
  const e = await describeUpstreamError(res, what, registry);
  return new WharfError(e.code, e.message, { headers: e.headers, upstreamStatus: res.status });
}

async function describeUpstreamError(
  res: UpstreamResponse,
  what: "manifest" | "blob" | "tags",
  registry: string,
): Promise<WharfError> {
  let upstreamCode: string | undefined;
  let upstreamMessage: string | undefined;
  try {
    const text = await res.body.text();
    const parsed = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
    upstreamCode = parsed.errors?.[0]?.code;
    upstreamMessage = parsed.errors?.[0]?.message?.slice(0, 200);
  } catch {
    // Not OCI JSON (quay.io sends HTML on 429, for example).
  }
  const from = `upstream ${registry}`;
  switch (res.status) {
    case 404:
      if (upstreamCode === "NAME_UNKNOWN")
        return new WharfError("NAME_UNKNOWN", `repository not known to ${from}`);
      return what === "blob"
        ? new WharfError("BLOB_UNKNOWN", `blob unknown to ${from}`)
        : new WharfError(
            what === "tags" ? "NAME_UNKNOWN" : "MANIFEST_UNKNOWN",
            `${what === "tags" ? "repository" : "manifest"} unknown to ${from}`,
          );
    case 401:
      return new WharfError(
        "UNAUTHORIZED",
        `${from} refused access${upstreamMessage ? `: ${upstreamMessage}` : ""}`,
      );
    case 403:
      return new WharfError(
        "DENIED",
        `${from} denied access${upstreamMessage ? `: ${upstreamMessage}` : ""}`,
      );
    case 429:
      return new WharfError("TOOMANYREQUESTS", `${from} rate limit reached`, {
        headers: res.headers["retry-after"] ? { "retry-after": res.headers["retry-after"] } : {},
      });
    default:
      if (res.status >= 500) return new WharfError("UPSTREAM_UNAVAILABLE", `${from} answered ${res.status}`);
      return new WharfError("UPSTREAM_INVALID", `${from} answered ${res.status} unexpectedly`);
  }
}

/** Errors that justify serving a stale tag instead (stale-if-error): outages, not verdicts. */
export function isOutage(e: unknown): boolean {
  return (
    e instanceof WharfError &&
    [
      "UPSTREAM_UNAVAILABLE",
      "UPSTREAM_TIMEOUT",
      "UPSTREAM_DNS_FAILED",
      "UPSTREAM_INVALID",
      "TOOMANYREQUESTS",
      "UNAUTHORIZED",
      "DENIED",
    ].includes(e.code)
  );
}
