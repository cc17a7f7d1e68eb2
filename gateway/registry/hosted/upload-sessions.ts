// Blob upload sessions on disk (OCI distribution spec, "Pushing blobs"): <uploads>/<id>/data holds
// the bytes, <uploads>/<id>/state.json (replaced atomically) the accepted offset. Bytes past the
// offset (a chunk cut short by a crash or a client gone) are truncated away before the next
// write, so a chunk is either wholly accepted or not at all. Ids are random and checked against
// one pattern on every call: a client never names a path.
import { createHash, type Hash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, open, readFile, rename, rm, stat, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { WharfError } from "../../../common/errors.ts";
import { type Digest, digestHasher } from "../../oci/digest.ts";
import type { ChunkInfo, UploadState } from "../registry.ts";

const ID = /^[a-f0-9]{32}$/;
export const STATE_FILE = "state.json";
export const DATA_FILE = "data";

export interface StoredState {
  registry: string;
  repository: string;
  offset: number;
  createdAt: number;
}

export function isUploadId(id: string): boolean {
  return ID.test(id);
}

/**
 * Spec, "Pushing a blob in chunks": a chunk must start right after the last accepted byte, else
 * 416 and nothing is written (the body is drained). Returns the chunk's announced length, if any.
 */
export function assertChunkAt(chunk: ChunkInfo, offset: number, body: Readable): number | undefined {
  const rangeBad =
    (chunk.start !== undefined && chunk.start !== offset) ||
    (chunk.end !== undefined && (chunk.start === undefined || chunk.end < chunk.start)) ||
    (chunk.end !== undefined &&
      chunk.length !== undefined &&
      chunk.length !== chunk.end - (chunk.start ?? 0) + 1);
  if (rangeBad) {
    body.resume();
    throw rangeInvalid(offset);
  }
  return chunk.end !== undefined ? chunk.end - (chunk.start ?? offset) + 1 : chunk.length;
}

/** 416 with the accepted range, so the client can resume (spec: Range: 0-<offset-1>). */
export function rangeInvalid(offset: number): WharfError {
  return new WharfError("RANGE_INVALID", "chunk does not start at the upload's offset", {
    detail: { offset },
    headers: { range: `0-${Math.max(0, offset - 1)}` },
  });
}

export function sizeInvalid(expected: number, received: number): WharfError {
  return new WharfError("SIZE_INVALID", "chunk length does not match Content-Length / Content-Range", {
    detail: { expected, received },
  });
}

export function unknown(): WharfError {
  return new WharfError("BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry");
}

export class UploadSessions {
  readonly dir: string;
  readonly #registry: string;
  readonly #now: () => number;
  /** sha256 of bytes [0, at) per session, kept while appends arrive in order (saves a re-read). */
  readonly #hashes = new Map<string, { hash: Hash; at: number }>();
  /** One operation per session at a time (a PATCH racing a PUT would interleave bytes). */
  readonly #busy = new Map<string, Promise<unknown>>();

  constructor(opts: { dir: string; registry: string; now: () => number }) {
    this.dir = opts.dir;
    this.#registry = opts.registry;
    this.#now = opts.now;
  }

  async start(repository: string): Promise<UploadState> {
    const id = randomBytes(16).toString("hex");
    const dir = join(this.dir, id);
    await mkdir(dir, { recursive: true, mode: 0o750 });
    await writeFile(join(dir, DATA_FILE), "", { mode: 0o640, flag: "wx" });
    await this.#save(id, { registry: this.#registry, repository, offset: 0, createdAt: this.#now() });
    this.#hashes.set(id, { hash: createHash("sha256"), at: 0 });
    return { id, repository, offset: 0 };
  }

  status(repository: string, id: string): Promise<UploadState> {
    return this.#exclusive(id, async () => {
      const s = await this.#load(repository, id);
      return { id, repository, offset: s.offset };
    });
  }

  append(repository: string, id: string, body: Readable, chunk: ChunkInfo): Promise<UploadState> {
    return this.#exclusive(id, async () => {
      const s = await this.#load(repository, id);
      await this.#append(id, s, body, chunk);
      return { id, repository, offset: s.offset };
    });
  }

  /**
   * Appends `body` if given, checks `digest` over all bytes and hands the fsynced data file to
   * `commit` (which moves it into the store). A mismatch discards the session, as distribution
   * does: the client starts over.
   */
  finish(
    repository: string,
    id: string,
    digest: Digest,
    body: Readable | undefined,
    chunk: ChunkInfo,
    commit: (dataPath: string, size: number) => Promise<void>,
  ): Promise<{ digest: string; size: number }> {
    return this.#exclusive(id, async () => {
      const s = await this.#load(repository, id);
      if (body) await this.#append(id, s, body, chunk);
      const dataPath = join(this.dir, id, DATA_FILE);
      const h = this.#hashes.get(id);
      let actual: string;
      if (digest.algorithm === "sha256" && h?.at === s.offset) actual = `sha256:${h.hash.digest("hex")}`;
      else {
        const hash = digestHasher(digest);
        if (s.offset > 0)
          await pipeline(
            createReadStream(dataPath, { end: s.offset - 1 }),
            async (src: AsyncIterable<Buffer>) => {
              for await (const c of src) hash.update(c);
            },
          );
        actual = `${digest.algorithm}:${hash.digest("hex")}`;
      }
      this.#hashes.delete(id);
      if (actual !== digest.value) {
        await this.#discard(id);
        throw new WharfError("DIGEST_INVALID", "uploaded content does not match the digest", {
          detail: { digest: digest.value },
        });
      }
      const fh = await open(dataPath, "r");
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      await commit(dataPath, s.offset);
      await this.#discard(id);
      return { digest: digest.value, size: s.offset };
    });
  }

  cancel(repository: string, id: string): Promise<void> {
    return this.#exclusive(id, async () => {
      await this.#load(repository, id);
      await this.#discard(id);
    });
  }

  async #append(id: string, s: StoredState, body: Readable, chunk: ChunkInfo): Promise<void> {
    const expected = assertChunkAt(chunk, s.offset, body);
    const dataPath = join(this.dir, id, DATA_FILE);
    if ((await stat(dataPath)).size !== s.offset) await truncate(dataPath, s.offset);
    const prior = this.#hashes.get(id);
    const hash = prior?.at === s.offset ? prior.hash.copy() : undefined;
    let received = 0;
    const count = new Transform({
      transform(c: Buffer, _enc, done) {
        received += c.length;
        hash?.update(c);
        done(null, c);
      },
    });
    try {
      await pipeline(body, count, createWriteStream(dataPath, { flags: "r+", start: s.offset }));
      if (expected !== undefined && received !== expected) throw sizeInvalid(expected, received);
    } catch (e) {
      await truncate(dataPath, s.offset).catch(() => {});
      throw e;
    }
    s.offset += received;
    await this.#save(id, s);
    if (hash) this.#hashes.set(id, { hash, at: s.offset });
    else this.#hashes.delete(id);
  }

  async #load(repository: string, id: string): Promise<StoredState> {
    if (!isUploadId(id)) throw unknown();
    let s: StoredState;
    try {
      s = JSON.parse(await readFile(join(this.dir, id, STATE_FILE), "utf8")) as StoredState;
    } catch {
      this.#hashes.delete(id); // removed by gc or cancelled elsewhere
      throw unknown();
    }
    if (s.registry !== this.#registry || s.repository !== repository) throw unknown();
    const size = await stat(join(this.dir, id, DATA_FILE)).then(
      (st) => st.size,
      () => -1,
    );
    // Fewer bytes than accepted means the data file was lost (not a crash of wharf: that keeps
    // written bytes): the session cannot be resumed.
    if (size < s.offset) throw unknown();
    return s;
  }

  /** Replaces state.json atomically (temp file + rename). */
  async #save(id: string, s: StoredState): Promise<void> {
    const file = join(this.dir, id, STATE_FILE);
    const tmp = `${file}.${randomBytes(4).toString("hex")}.tmp`;
    await writeFile(tmp, JSON.stringify(s), { mode: 0o640 });
    await rename(tmp, file);
  }

  async #discard(id: string): Promise<void> {
    this.#hashes.delete(id);
    await rm(join(this.dir, id), { recursive: true, force: true });
  }

  async #exclusive<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const before = this.#busy.get(id) ?? Promise.resolve();
    const run = before.then(fn, fn);
    const settled = run.catch(() => {});
    this.#busy.set(id, settled);
    try {
      return await run;
    } finally {
      if (this.#busy.get(id) === settled) this.#busy.delete(id);
    }
  }
}
