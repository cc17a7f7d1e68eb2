// Test doubles for the route layer's unit tests only: an in-memory hosted registry, a proxied
// registry serving fixed content, and an authenticator with one user. The real backends are
// proven end to end (test/e2e/oci-conformance.test.ts).
import { createHash, randomUUID } from "node:crypto";
import type { Readable } from "node:stream";
import { Hono } from "hono";
import { WharfError } from "../../common/errors.ts";
import type { Action, Authenticator, Identified } from "../access/authenticator.ts";
import type { Digest } from "../oci/digest.ts";
import type { Reference } from "../oci/reference.ts";
import type {
  BlobContent,
  ChunkInfo,
  HostedRegistryApi,
  ManifestContent,
  RangeRequest,
  Registry,
  TagPage,
  UploadState,
} from "../registry/registry.ts";
import { resolveRange } from "./range-header.ts";

export const sha256 = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function blobOf(
  bytes: Buffer | undefined,
  d: Digest,
  opts: { head: boolean; range?: RangeRequest },
): BlobContent {
  if (!bytes) throw new WharfError("BLOB_UNKNOWN", "blob unknown");
  const range = opts.range ? resolveRange(opts.range, bytes.length) : undefined;
  const content: BlobContent = { digest: d.value, size: bytes.length, outcome: "hit" };
  if (range) content.range = range;
  if (!opts.head) content.body = range ? bytes.subarray(range.start, range.end + 1) : bytes;
  return content;
}

interface StoredManifest {
  body: Buffer;
  mediaType: string;
  digest: string;
  subject?: string;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export class MemoryHostedRegistry implements HostedRegistryApi {
  readonly kind = "hosted" as const;
  readonly blobs = new Map<string, Buffer>();
  readonly uploads = new Map<string, { repository: string; bytes: Buffer }>();
  /** repository -> reference (tag or digest) -> manifest */
  readonly manifests = new Map<string, Map<string, StoredManifest>>();

  readonly name: string;
  readonly allowDelete: boolean;
  readonly anonymousPull: boolean;

  constructor(name: string, opts: { allowDelete?: boolean; anonymousPull?: boolean } = {}) {
    this.name = name;
    this.allowDelete = opts.allowDelete ?? true;
    this.anonymousPull = opts.anonymousPull ?? true;
  }

  #repo(repository: string): Map<string, StoredManifest> {
    const m = this.manifests.get(repository) ?? new Map<string, StoredManifest>();
    this.manifests.set(repository, m);
    return m;
  }

  async manifest(repository: string, ref: Reference, opts: { head: boolean }): Promise<ManifestContent> {
    const key = ref.kind === "tag" ? ref.tag : ref.digest.value;
    const m = this.manifests.get(repository)?.get(key);
    if (!m) throw new WharfError("MANIFEST_UNKNOWN", "manifest unknown");
    return {
      digest: m.digest,
      mediaType: m.mediaType,
      size: m.body.length,
      outcome: "hit",
      ...(opts.head ? {} : { body: m.body }),
    };
  }
  async blob(_repository: string, d: Digest, opts: { head: boolean; range?: RangeRequest }) {
    return blobOf(this.blobs.get(d.value), d, opts);
  }
  async tags(repository: string, page: { n?: number; last?: string }): Promise<TagPage> {
    const all = [...(this.manifests.get(repository)?.keys() ?? [])].filter((k) => !k.includes(":")).sort();
    const after = page.last === undefined ? all : all.filter((t) => t > (page.last as string));
    const tags = page.n === undefined ? after : after.slice(0, page.n);
    const more = tags.length < after.length;
    const last = tags.at(-1);
    return {
      name: repository,
      tags,
      outcome: "hit",
      ...(more && last ? { link: `</v2/${repository}/tags/list?n=${page.n}&last=${last}>; rel="next"` } : {}),
    };
  }
  async mount(_repository: string, d: Digest, from: string | undefined) {
    return from !== undefined && this.blobs.has(d.value);
  }
  async startUpload(repository: string): Promise<UploadState> {
    const id = randomUUID();
    this.uploads.set(id, { repository, bytes: Buffer.alloc(0) });
    return { id, repository, offset: 0 };
  }
  #upload(id: string) {
    const u = this.uploads.get(id);
    if (!u) throw new WharfError("BLOB_UNKNOWN", "upload unknown");
    return u;
  }
  async uploadStatus(repository: string, id: string) {
    return { id, repository, offset: this.#upload(id).bytes.length };
  }
  async appendUpload(repository: string, id: string, body: Readable, chunk: ChunkInfo) {
    const u = this.#upload(id);
    if (chunk.start !== undefined && chunk.start !== u.bytes.length)
      throw new WharfError("RANGE_INVALID", "chunk out of order");
    u.bytes = Buffer.concat([u.bytes, await readAll(body)]);
    return { id, repository, offset: u.bytes.length };
  }
  async finishUpload(_repository: string, id: string, d: Digest, body: Readable | undefined) {
    const u = this.#upload(id);
    if (body) u.bytes = Buffer.concat([u.bytes, await readAll(body)]);
    if (sha256(u.bytes) !== d.value) throw new WharfError("DIGEST_INVALID", "digest mismatch");
    this.uploads.delete(id);
    this.blobs.set(d.value, u.bytes);
    return { digest: d.value, size: u.bytes.length };
  }
  async cancelUpload(_repository: string, id: string) {
    this.#upload(id);
    this.uploads.delete(id);
  }
  async putManifest(repository: string, ref: Reference, body: Buffer, contentType: string) {
    const doc = JSON.parse(body.toString("utf8")) as {
      subject?: { digest: string };
      artifactType?: string;
      config?: { mediaType?: string };
      annotations?: Record<string, string>;
    };
    const m: StoredManifest = { body, mediaType: contentType, digest: sha256(body) };
    if (doc.subject) m.subject = doc.subject.digest;
    // image spec: an artifact's type is artifactType, else its config's media type
    const artifactType = doc.artifactType ?? doc.config?.mediaType;
    if (artifactType) m.artifactType = artifactType;
    if (doc.annotations) m.annotations = doc.annotations;
    const repo = this.#repo(repository);
    repo.set(m.digest, m);
    if (ref.kind === "tag") repo.set(ref.tag, m);
    return { digest: m.digest, ...(m.subject ? { subject: m.subject } : {}) };
  }
  async deleteManifest(repository: string, ref: Reference) {
    const repo = this.#repo(repository);
    const key = ref.kind === "tag" ? ref.tag : ref.digest.value;
    if (!repo.delete(key)) throw new WharfError("MANIFEST_UNKNOWN", "manifest unknown");
  }
  async deleteBlob(_repository: string, d: Digest) {
    if (!this.blobs.delete(d.value)) throw new WharfError("BLOB_UNKNOWN", "blob unknown");
  }
  async referrers(repository: string, d: Digest, artifactType: string | undefined) {
    const manifests = [...new Set(this.#repo(repository).values())]
      .filter((m) => m.subject === d.value && (artifactType === undefined || m.artifactType === artifactType))
      .map((m) => ({
        mediaType: m.mediaType,
        digest: m.digest,
        size: m.body.length,
        artifactType: m.artifactType,
        annotations: m.annotations,
      }));
    return Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests }),
    );
  }
  async catalog(page: { n?: number; last?: string }) {
    const all = [...this.manifests.keys()].sort().filter((r) => page.last === undefined || r > page.last);
    const repositories = page.n === undefined ? all : all.slice(0, page.n);
    return { repositories, more: repositories.length < all.length };
  }
}

/** A proxied registry with one image; `refuse` makes it answer like an upstream refusing wharf. */
export class FixedProxyRegistry implements Registry {
  readonly kind = "proxy" as const;
  refuse = false;
  readonly name: string;
  readonly manifestBody: Buffer;
  readonly blobBytes: Buffer;

  constructor(name: string, manifestBody: Buffer, blobBytes: Buffer) {
    this.name = name;
    this.manifestBody = manifestBody;
    this.blobBytes = blobBytes;
  }
  async manifest(_r: string, ref: Reference, opts: { head: boolean }): Promise<ManifestContent> {
    if (this.refuse)
      throw new WharfError("UNAUTHORIZED", `upstream ${this.name} refused access`, { upstreamStatus: 401 });
    const digest = sha256(this.manifestBody);
    if (ref.kind === "tag" ? ref.tag !== "latest" : ref.digest.value !== digest)
      throw new WharfError("MANIFEST_UNKNOWN", "manifest unknown to upstream");
    return {
      digest,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      size: this.manifestBody.length,
      outcome: "hit",
      ...(opts.head ? {} : { body: this.manifestBody }),
    };
  }
  async blob(_r: string, d: Digest, opts: { head: boolean; range?: RangeRequest }) {
    return blobOf(d.value === sha256(this.blobBytes) ? this.blobBytes : undefined, d, opts);
  }
  async tags(repository: string): Promise<TagPage> {
    return { name: repository, tags: ["latest"], outcome: "passthrough" };
  }
}

const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
export const ALICE = basic("alice", "secret");
export const ALICE_WRONG = basic("alice", "wrong");
/** A token that grants pull only (as for an anonymous `docker pull`). */
export const PULL_TOKEN = "Bearer pull-only";

export function fakeAuthenticator(): Authenticator {
  const routes = new Hono();
  // Alice's credentials get a token for everything; anyone else a pull-only one
  routes.get("/", (c) => c.json({ token: c.req.header("authorization") === ALICE ? "alice" : "pull-only" }));
  return {
    routes,
    async identify(authorization): Promise<Identified | undefined> {
      if (authorization === undefined) return undefined;
      if (authorization === ALICE || authorization === "Bearer alice")
        return { identity: { kind: "user", name: "alice" }, may: () => true };
      if (authorization === PULL_TOKEN)
        return { identity: { kind: "anonymous" }, may: (a: Action) => a === "pull" };
      throw new WharfError("UNAUTHORIZED", "invalid credentials");
    },
    async authorize(req) {
      const id = await this.identify(req.authorization);
      if (!id)
        return {
          allowed: req.action === "pull" && (req.registryKind === "proxy" || req.anonymousPull === true),
          identity: { kind: "anonymous" },
          by: "default",
          bearer: false,
        };
      const bearer = /^bearer /i.test(req.authorization ?? "");
      return { allowed: id.may(req.action, req.clientName), identity: id.identity, by: "token", bearer };
    },
    challenge({ host, scope, error }) {
      const s = scope ? `,scope="repository:${scope.repository}:${scope.actions.join(",")}"` : "";
      return `Bearer realm="http://${host}/auth/token",service="wharf"${s}${error ? `,error="${error}"` : ""}`;
    },
  };
}
