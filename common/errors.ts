// One error class, one table of stable codes. Each code carries the HTTP status and the OCI
// error code (OCI distribution spec, "Error Codes") used when it reaches a registry client.

interface ErrorSpec {
  status: number;
  /** OCI / Docker registry error code sent to clients. */
  oci: string;
}

export const ERROR_CODES = {
  // Client-facing registry errors (OCI distribution spec error codes).
  NAME_INVALID: { status: 400, oci: "NAME_INVALID" },
  NAME_UNKNOWN: { status: 404, oci: "NAME_UNKNOWN" },
  MANIFEST_UNKNOWN: { status: 404, oci: "MANIFEST_UNKNOWN" },
  MANIFEST_INVALID: { status: 400, oci: "MANIFEST_INVALID" },
  BLOB_UNKNOWN: { status: 404, oci: "BLOB_UNKNOWN" },
  BLOB_UPLOAD_UNKNOWN: { status: 404, oci: "BLOB_UPLOAD_UNKNOWN" },
  BLOB_UPLOAD_INVALID: { status: 400, oci: "BLOB_UPLOAD_INVALID" },
  MANIFEST_BLOB_UNKNOWN: { status: 400, oci: "MANIFEST_BLOB_UNKNOWN" },
  // The spec asks for 413 above a registry's manifest size limit ("Pushing Manifests"); the
  // error-code table has no code of its own for it.
  MANIFEST_TOO_LARGE: { status: 413, oci: "MANIFEST_INVALID" },
  SIZE_INVALID: { status: 400, oci: "SIZE_INVALID" },
  DIGEST_INVALID: { status: 400, oci: "DIGEST_INVALID" },
  TAG_INVALID: { status: 400, oci: "TAG_INVALID" },
  /** `?n=` that is not a count (distribution's code for it). */
  PAGINATION_NUMBER_INVALID: { status: 400, oci: "PAGINATION_NUMBER_INVALID" },
  RANGE_INVALID: { status: 416, oci: "RANGE_INVALID" },
  /** A request body over wharf's limit (spec, "Pushing Manifests": 413 for too large a manifest). */
  TOO_LARGE: { status: 413, oci: "SIZE_INVALID" },
  UNAUTHORIZED: { status: 401, oci: "UNAUTHORIZED" },
  DENIED: { status: 403, oci: "DENIED" },
  UNSUPPORTED: { status: 405, oci: "UNSUPPORTED" },
  TOOMANYREQUESTS: { status: 429, oci: "TOOMANYREQUESTS" },
  NOT_FOUND: { status: 404, oci: "NOT_FOUND" },
  MISDIRECTED: { status: 421, oci: "DENIED" },
  // Upstream trouble, reported to clients as gateway errors.
  UPSTREAM_UNAVAILABLE: { status: 502, oci: "UNAVAILABLE" },
  UPSTREAM_TIMEOUT: { status: 504, oci: "UNAVAILABLE" },
  UPSTREAM_DNS_FAILED: { status: 502, oci: "UNAVAILABLE" },
  UPSTREAM_INVALID: { status: 502, oci: "UNAVAILABLE" },
  OFFLINE: { status: 503, oci: "UNAVAILABLE" },
  // Operator-facing errors.
  CONFIG_INVALID: { status: 500, oci: "UNKNOWN" },
  // A one-shot command found no CA where the configuration says: only `wharf serve` creates it.
  CA_MISSING: { status: 500, oci: "UNKNOWN" },
  STORE_UNAVAILABLE: { status: 503, oci: "UNAVAILABLE" },
  INTERNAL: { status: 500, oci: "UNKNOWN" },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class WharfError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Extra OCI `detail` for the client; never holds secrets. */
  readonly detail: unknown;
  /** Headers the response must carry (Retry-After, WWW-Authenticate). */
  readonly headers: Record<string, string>;
  /** The upstream's HTTP status when this error reports an upstream answer (for logs/metrics). */
  readonly upstreamStatus: number | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    opts: {
      detail?: unknown;
      headers?: Record<string, string>;
      cause?: unknown;
      upstreamStatus?: number;
    } = {},
  ) {
    super(message, { cause: opts.cause });
    this.name = "WharfError";
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.detail = opts.detail;
    this.headers = opts.headers ?? {};
    this.upstreamStatus = opts.upstreamStatus;
  }

  get ociCode(): string {
    return ERROR_CODES[this.code].oci;
  }

  /** The OCI error body: {"errors":[{"code","message","detail"}]}. */
  toOciBody(): { errors: { code: string; message: string; detail?: unknown }[] } {
    return {
      errors: [
        {
          code: this.ociCode,
          message: this.message,
          ...(this.detail === undefined ? {} : { detail: this.detail }),
        },
      ],
    };
  }
}

export function isWharfError(e: unknown, code?: ErrorCode): e is WharfError {
  return e instanceof WharfError && (code === undefined || e.code === code);
}
