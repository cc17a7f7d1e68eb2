// A proxied registry behind the Registry interface: an adapter over today's RegistryBackend
// (cache/registry-backend.ts), whose API still returns HTTP-ish replies. It maps them to content;
// once the backend returns content itself (issue 14's cache split) this file shrinks to a pass-through.
import type { RegistryBackend, Reply } from "../cache/registry-backend.ts";
import { WharfError } from "../errors.ts";
import type { Digest } from "../oci/digest.ts";
import type { Reference } from "../oci/reference.ts";
import type { CircuitBreaker } from "../upstream/circuit-breaker.ts";
import type { BlobContent, ByteRange, ManifestContent, RangeRequest, Registry, TagPage } from "./registry.ts";

/**
 * The backend still parses the raw `Range` header itself: a request the HTTP layer has already
 * parsed goes back as the one header that means exactly it. A header the HTTP layer ignores
 * (several ranges, unknown unit) never gets here.
 */
export function rangeHeaderOf(r: RangeRequest | undefined): string | undefined {
  if (!r) return undefined;
  if (r.kind === "suffix") return `bytes=-${r.length}`;
  return `bytes=${r.start}-${r.end ?? ""}`;
}

const CONTENT_RANGE = /^bytes (\d+)-(\d+)\/(\d+)$/;
const WARNING = /^110 wharf "(.*)"$/;

function lengthOf(reply: Reply): number | undefined {
  const len = reply.headers["content-length"];
  return len !== undefined && /^\d+$/.test(len) ? Number(len) : undefined;
}

export class ProxyRegistry implements Registry {
  readonly kind = "proxy" as const;
  readonly name: string;
  readonly #backend: RegistryBackend;

  constructor(backend: RegistryBackend) {
    this.#backend = backend;
    this.name = backend.name;
  }

  /** The upstream's URL and circuit breaker, for the status page and metrics. */
  get upstream(): { url: string; breaker: CircuitBreaker } {
    const u = this.#backend.upstream;
    return { url: u.base.href, breaker: u.breaker };
  }

  async manifest(
    repository: string,
    ref: Reference,
    opts: { head: boolean; accept: string[] },
  ): Promise<ManifestContent> {
    const reply = await this.#backend.manifest(repository, ref, opts);
    const h = reply.headers;
    const content: ManifestContent = {
      digest: h["docker-content-digest"] ?? reply.digest ?? "",
      mediaType: h["content-type"] ?? "application/octet-stream",
      size: lengthOf(reply) ?? 0,
      outcome: reply.outcome,
    };
    if (!opts.head && Buffer.isBuffer(reply.body)) content.body = reply.body;
    const warning = h.warning === undefined ? undefined : WARNING.exec(h.warning);
    if (warning) content.warning = warning[1];
    return content;
  }

  async blob(
    repository: string,
    digest: Digest,
    opts: { head: boolean; range?: RangeRequest },
  ): Promise<BlobContent> {
    const reply = await this.#backend.blob(repository, digest, {
      head: opts.head,
      range: rangeHeaderOf(opts.range),
    });
    const content: BlobContent = {
      digest: reply.headers["docker-content-digest"] ?? digest.value,
      size: lengthOf(reply),
      outcome: reply.outcome,
    };
    if (reply.status === 206) {
      const m = CONTENT_RANGE.exec(reply.headers["content-range"] ?? "");
      if (!m) throw new WharfError("INTERNAL", "a partial blob reply without its Content-Range");
      const range: ByteRange = { start: Number(m[1]), end: Number(m[2]) };
      content.range = range;
      content.size = Number(m[3]);
    }
    if (reply.body !== undefined) content.body = reply.body;
    return content;
  }

  async tags(repository: string, page: { n?: number; last?: string }): Promise<TagPage> {
    const q = new URLSearchParams();
    if (page.n !== undefined) q.set("n", String(page.n));
    if (page.last !== undefined) q.set("last", page.last);
    const qs = q.toString();
    const reply = await this.#backend.tagsList(repository, qs ? `?${qs}` : "");
    let doc: { name?: unknown; tags?: unknown };
    try {
      doc = JSON.parse(Buffer.isBuffer(reply.body) ? reply.body.toString("utf8") : "{}");
    } catch {
      throw new WharfError("UPSTREAM_INVALID", `upstream ${this.name} sent a tag list that is not JSON`);
    }
    const tags = Array.isArray(doc.tags) ? doc.tags.filter((t): t is string => typeof t === "string") : [];
    const out: TagPage = {
      name: typeof doc.name === "string" ? doc.name : repository,
      tags,
      outcome: reply.outcome,
    };
    if (reply.headers.link) out.link = reply.headers.link;
    return out;
  }
}
