// Repository names and references (OCI distribution spec, "Pulling manifests": <name> and <reference>).
import { WharfError } from "../../common/errors.ts";
import { type Digest, looksLikeDigest, parseDigest } from "./digest.ts";

const NAME_COMPONENT = "[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*";
const NAME = new RegExp(`^${NAME_COMPONENT}(?:/${NAME_COMPONENT})*$`);
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

export function isValidRepository(name: string): boolean {
  return name.length <= 255 && NAME.test(name);
}

export function assertRepository(name: string): string {
  if (!isValidRepository(name)) {
    throw new WharfError("NAME_INVALID", "invalid repository name", { detail: { name: name.slice(0, 300) } });
  }
  return name;
}

export type Reference = { kind: "tag"; tag: string } | { kind: "digest"; digest: Digest };

export function parseReference(text: string): Reference {
  if (looksLikeDigest(text)) return { kind: "digest", digest: parseDigest(text) };
  if (!TAG.test(text))
    throw new WharfError("TAG_INVALID", "invalid tag", { detail: { tag: text.slice(0, 200) } });
  return { kind: "tag", tag: text };
}

/** Docker Hub keeps official images under library/: "alpine" means "library/alpine". */
export function withDockerHubLibrary(registry: string, repository: string): string {
  return registry === "docker.io" && !repository.includes("/") ? `library/${repository}` : repository;
}
