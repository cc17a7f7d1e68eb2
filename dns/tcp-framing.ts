// DNS over TCP frames every message with a two-byte length (RFC 1035 §4.2.2); one connection may
// carry several messages, possibly pipelined (RFC 7766 §6.2.1).
import type { Socket } from "node:net";

/** Prefixes a message with its length. */
export function frame(message: Buffer): Buffer {
  const head = Buffer.alloc(2);
  head.writeUInt16BE(message.length);
  return Buffer.concat([head, message]);
}

/** Calls `onMessage` for every complete message read from `socket`. */
export function readFramedMessages(socket: Socket, onMessage: (message: Buffer) => void): void {
  let pending: Buffer = Buffer.alloc(0);
  socket.on("data", (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 2) {
      const length = pending.readUInt16BE(0);
      if (pending.length < 2 + length) break;
      const message = pending.subarray(2, 2 + length);
      pending = pending.subarray(2 + length);
      onMessage(message);
    }
  });
}
