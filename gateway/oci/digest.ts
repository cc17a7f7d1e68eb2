// Content digests (OCI image spec, descriptor.md "Digests"): algorithm ":" encoded.
import { createHash, type Hash } from "node:crypto";
import { WharfError } from "../../common/errors.ts";

const ALGORITHMS: Record<string, { hex: number; node: string }> = {
  sha256: { hex: 64, node: "sha256" },
  sha512: { hex: 128, node: "sha512" },
};

export interface Digest {
  algorithm: "sha256" | "sha512";
  hex: string;
  /** The canonical "sha256:<hex>" form. */
  value: string;
}

const DIGEST_SHAPE = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export function looksLikeDigest(text: string): boolean {
  return text.includes(":");
}

/** Parses and validates a digest; only algorithms wharf can verify are accepted. */
export function parseDigest(text: string): Digest {
  if (!DIGEST_SHAPE.test(text))
    throw new WharfError("DIGEST_INVALID", "invalid digest format", {
      detail: { digest: text.slice(0, 200) },
    });
  const i = text.indexOf(":");
  const algorithm = text.slice(0, i);
  const hex = text.slice(i + 1);
  const spec = ALGORITHMS[algorithm];
  if (!spec)
    throw new WharfError("DIGEST_INVALID", `unsupported digest algorithm "${algorithm.slice(0, 20)}"`);
  if (hex.length !== spec.hex || !/^[a-f0-9]+$/.test(hex)) {
    throw new WharfError("DIGEST_INVALID", `invalid ${algorithm} digest`, {
      detail: { digest: text.slice(0, 200) },
    });
  }
  return { algorithm: algorithm as Digest["algorithm"], hex, value: text };
}

export function digestHasher(d: Digest): Hash {
  return createHash((ALGORITHMS[d.algorithm] as { node: string }).node);
}

export function sha256Digest(data: Uint8Array): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

/** The digest of `data` computed with the algorithm of `d`. */
export function digestOf(d: Digest, data: Uint8Array): string {
  return `${d.algorithm}:${digestHasher(d).update(data).digest("hex")}`;
}
