// Reads a small request body (a manifest) into memory, refusing more than `max` bytes before
// reading them when Content-Length says so, and while reading otherwise.
import { WharfError } from "../../common/errors.ts";
import type { NodeRequest } from "./write-reply.ts";

export async function readSmallBody(req: NodeRequest, max: number, what: string): Promise<Buffer> {
  const declared = req.headers["content-length"];
  const tooLarge = () => new WharfError("TOO_LARGE", `${what} is larger than ${max} bytes`);
  if (declared !== undefined && Number(declared) > max) {
    req.resume();
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) {
      req.resume();
      throw tooLarge();
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}
