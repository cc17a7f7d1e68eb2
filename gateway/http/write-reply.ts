// Writes a backend reply straight to the Node response. File bodies (blobs) are sent with two
// reused buffers per response: the next chunk is read while the previous one is being written, and
// a buffer is refilled only once its write has completed, so at most two chunks are in flight (that
// is the backpressure) and nothing is allocated per chunk (no garbage, flat memory). Other streamed
// bodies are piped. A body that fails mid-way destroys the connection so the client sees an error
// instead of a short or wrong download. A client that stops reading is caught by the listener's
// send watchdog (send-watchdog.ts): this file marks when it waits on the client and counts progress.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { type FileBody, isFileBody } from "../cache/file-body.ts";
import type { Body } from "../registry/registry.ts";
import { abortResponse, type SendWatch, unwatchSend, watchSend } from "./send-watchdog.ts";

export type NodeRequest = IncomingMessage | Http2ServerRequest;
export type NodeResponse = ServerResponse | Http2ServerResponse;

export const API_VERSION_HEADER = { "docker-distribution-api-version": "registry/2.0" };

/** A reply as written: status, headers and an optional body. */
export interface Reply {
  status: number;
  headers: Record<string, string>;
  body?: Body;
}

/**
 * Send buffers: two per response, of CHUNK bytes while few responses are being sent (larger
 * chunks saved no CPU on loopback). Each write also holds its encrypted copy until the client
 * takes it. Concurrent sends share SEND_BUDGET instead, down to MIN_CHUNK: 32 clients following
 * one fill with 512 KiB chunks held about 64 MiB and pushed the peak RSS to 180 MiB (bench
 * figure 4c); with the budget the peak was 148-149 MiB in the same conditions.
 */
const CHUNK = 512 * 1024;
const MIN_CHUNK = 64 * 1024;
const SEND_BUDGET = 4 * 1024 * 1024;
let sending = 0;

/** The largest power-of-two chunk, MIN_CHUNK to CHUNK, that keeps `sending` sends within budget. */
function chunkSize(): number {
  let size = CHUNK;
  while (size > MIN_CHUNK && 2 * size * sending > SEND_BUDGET) size /= 2;
  return size;
}

/**
 * Send buffers of finished responses, kept for the next ones, by size: a buffer allocated per
 * response lives as long as the response, is promoted, and its native memory waits for a full GC,
 * so concurrent pulls left RSS that was never given back. Bounded: SEND_BUDGET bytes per size.
 */
const spareBuffers = new Map<number, Buffer[]>();

function takeBuffer(size: number): Buffer {
  return spareBuffers.get(size)?.pop() ?? Buffer.allocUnsafeSlow(size);
}

function giveBack(buffers: Buffer[]): void {
  for (const b of buffers) {
    const spares = spareBuffers.get(b.length) ?? [];
    spareBuffers.set(b.length, spares);
    if ((spares.length + 1) * b.length <= SEND_BUDGET) spares.push(b);
  }
}

/** Lets go of a body that will not be sent (HEAD, or an error before the first byte). */
export function discardBody(body: Body | undefined): void {
  if (body instanceof Readable) body.destroy();
  else if (isFileBody(body)) body.release();
}

function writeChunk(res: NodeResponse, chunk: Buffer, watch: SendWatch | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    (res as ServerResponse).write(chunk, (err) => {
      if (watch) watch.ticks++;
      if (err) reject(err);
      else resolve();
    });
  });
}

/** Sends bytes [start, end] of the file; resolves with the bytes written, throws if cut short. */
export async function sendFile(res: NodeResponse, body: FileBody): Promise<number> {
  // A closed connection may never complete a pending write: stop waiting when it closes.
  let onGone: (e: Error) => void = () => {};
  const gone = new Promise<never>((_, reject) => {
    onGone = reject;
  });
  gone.catch(() => {});
  const onClose = () => onGone(new Error("response closed before the body was sent"));
  res.once("close", onClose);
  // A write completes once the client has taken the bytes (the kernel or the HTTP/2 flow-control
  // window accepted them); a client that stops reading leaves it pending until the watchdog fires.
  const watch = watchSend(res);
  let fh: Awaited<ReturnType<FileBody["open"]>> | undefined;
  let buffers: Buffer[] | undefined;
  // a buffer goes back to the spares only once no write can still be reading it
  let settled = false;
  sending++;
  try {
    fh = await body.open();
    const size = chunkSize();
    buffers = [takeBuffer(size), takeBuffer(size)];
    const writes: Promise<void>[] = [Promise.resolve(), Promise.resolve()];
    let pos = body.start;
    let limit = body.start;
    let i = 0;
    while (pos <= body.end) {
      if (pos >= limit) limit = await Promise.race([body.readable(pos), gone]);
      if (watch) watch.blocked = true;
      await Promise.race([writes[i], gone]);
      if (watch) watch.blocked = false;
      const buffer = buffers[i] as Buffer;
      const len = Math.min(buffer.length, limit - pos, body.end + 1 - pos);
      const { bytesRead } = await fh.read(buffer, 0, len, pos);
      if (bytesRead === 0) throw new Error(`file ended at ${pos}, before byte ${body.end}`);
      const write = writeChunk(res, buffer.subarray(0, bytesRead), watch);
      write.catch(() => {});
      writes[i] = write;
      pos += bytesRead;
      i ^= 1;
    }
    if (watch) watch.blocked = true;
    await Promise.race([Promise.all(writes), gone]);
    settled = true;
    res.end();
    return pos - body.start;
  } finally {
    sending--;
    if (settled && buffers) giveBack(buffers);
    unwatchSend(res, watch);
    res.off("close", onClose);
    await fh?.close().catch(() => {});
    body.release();
  }
}

function tearDown(res: NodeResponse): void {
  // Client went away, or the source failed (digest mismatch, upstream died): never complete
  // the response; tear the connection (or HTTP/2 stream, with INTERNAL_ERROR) down.
  abortResponse(res, 2);
}

/** Sends `reply`; resolves with the body bytes written once the response has finished or failed. */
export async function writeReply(res: NodeResponse, reply: Reply, head: boolean): Promise<number> {
  const headers = { ...API_VERSION_HEADER, ...reply.headers };
  (res as ServerResponse).writeHead(reply.status, headers);
  const body = reply.body;
  if (head || body === undefined) {
    discardBody(body);
    res.end();
    return 0;
  }
  if (Buffer.isBuffer(body)) {
    res.end(body);
    return body.length;
  }
  if (isFileBody(body)) {
    try {
      return await sendFile(res, body);
    } catch {
      tearDown(res);
      return 0;
    }
  }
  let bytes = 0;
  // pipeline stops reading the source while the client does not drain, so "data" is the progress.
  const watch = watchSend(res);
  if (watch) watch.blocked = true;
  body.on("data", (chunk: Buffer) => {
    bytes += chunk.length;
    if (watch) watch.ticks++;
  });
  try {
    await pipeline(body, res as ServerResponse);
  } catch {
    tearDown(res);
  } finally {
    unwatchSend(res, watch);
  }
  return bytes;
}
