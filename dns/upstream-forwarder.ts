// Forwarding to the upstream resolver on raw packets: the query goes out byte for byte except for
// its ID, and the answer comes back byte for byte (rcode, flags, records, EDNS) with the client's ID
// restored. Each query gets a fresh socket (random source port) and a random ID, and an answer
// counts only if ID and question match (RFC 5452 §9.1, §9.2), so spoofed answers are hard to plant.
import { randomInt } from "node:crypto";
import { createSocket } from "node:dgram";
import { connect, isIPv6 } from "node:net";
import { frame, readFramedMessages } from "./tcp-framing.ts";

export interface Upstream {
  host: string;
  port: number;
}

export interface ForwardOptions {
  upstream: Upstream;
  timeoutMs: number;
  /** Aborts the exchange when the responder closes. */
  signal?: AbortSignal;
}

/** The TC bit: the answer did not fit and the full one must be fetched over TCP (RFC 1035 §4.1.1). */
export function isTruncated(message: Buffer): boolean {
  return message.length >= 12 && ((message[2] ?? 0) & 0x02) !== 0;
}

/** One exchange over UDP. Resolves with the answer (client ID restored); rejects on error or timeout. */
export function forwardUdp(query: Buffer, question: Buffer, opts: ForwardOptions): Promise<Buffer> {
  const id = randomInt(0x10000);
  const socket = createSocket(isIPv6(opts.upstream.host) ? "udp6" : "udp4");
  return exchange(opts, socket.close.bind(socket), (resolve, reject) => {
    socket.on("error", reject);
    socket.on("message", (answer) => {
      if (matches(answer, id, question)) resolve(withId(answer, query.readUInt16BE(0)));
    });
    // A connected socket only receives from the upstream's address and port, and learns of an
    // unreachable upstream (ICMP) at once instead of waiting for the timeout.
    socket.connect(opts.upstream.port, opts.upstream.host, () => socket.send(withId(query, id)));
  });
}

/** One exchange over TCP (used after a truncated UDP answer, and for TCP clients). */
export function forwardTcp(query: Buffer, question: Buffer, opts: ForwardOptions): Promise<Buffer> {
  const id = randomInt(0x10000);
  const socket = connect({ host: opts.upstream.host, port: opts.upstream.port });
  return exchange(opts, socket.destroy.bind(socket), (resolve, reject) => {
    socket.on("error", reject);
    socket.on("close", () => reject(new Error("upstream closed the connection")));
    readFramedMessages(socket, (answer) => {
      if (matches(answer, id, question)) resolve(withId(answer, query.readUInt16BE(0)));
    });
    socket.on("connect", () => socket.write(frame(withId(query, id))));
  });
}

// Runs `start` with a timeout and abort signal, always releasing the socket afterwards.
function exchange(
  opts: ForwardOptions,
  release: () => void,
  start: (resolve: (answer: Buffer) => void, reject: (err: unknown) => void) => void,
): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    let done = false;
    const finish = (err: unknown, answer?: Buffer) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      try {
        release();
      } catch {
        // already closed
      }
      if (answer) resolve(answer);
      else reject(err);
    };
    const onAbort = () => finish(new Error("forwarding aborted"));
    const timer = setTimeout(
      () => finish(new Error(`upstream ${opts.upstream.host}:${opts.upstream.port} timed out`)),
      opts.timeoutMs,
    );
    if (opts.signal?.aborted) return finish(new Error("forwarding aborted"));
    opts.signal?.addEventListener("abort", onAbort);
    try {
      start((answer) => finish(undefined, answer), finish);
    } catch (err) {
      finish(err);
    }
  });
}

function withId(message: Buffer, id: number): Buffer {
  const copy = Buffer.from(message);
  copy.writeUInt16BE(id, 0);
  return copy;
}

// An answer to our query: our ID, QR set, and the same question (names compared without regard to
// ASCII case, RFC 4343). Error answers without a question section (some servers' FORMERR) count too.
function matches(answer: Buffer, id: number, question: Buffer): boolean {
  if (answer.length < 12 || answer.readUInt16BE(0) !== id || ((answer[2] ?? 0) & 0x80) === 0) return false;
  const qdcount = answer.readUInt16BE(4);
  if (qdcount === 0) return (answer[3] ?? 0) % 16 !== 0;
  if (qdcount !== 1 || answer.length < 12 + question.length) return false;
  const nameLength = question.length - 4;
  for (let i = 0; i < nameLength; i++) {
    if (lowerAscii(answer[12 + i] ?? 0) !== lowerAscii(question[i] ?? 0)) return false;
  }
  return answer.subarray(12 + nameLength, 12 + question.length).equals(question.subarray(nameLength));
}

function lowerAscii(byte: number): number {
  return byte >= 0x41 && byte <= 0x5a ? byte + 0x20 : byte;
}
