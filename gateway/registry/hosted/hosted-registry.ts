// STUB, to be replaced at merge by branch `hosted` (the real hosted registry backend). It exists
// so the routing, configuration and wiring of hosted registries build and can be tested before
// that merge: every method refuses with UNSUPPORTED.
import type { ContentCache } from "../../cache/content-cache.ts";
import type { HostedConfig } from "../../config/schema.ts";
import { WharfError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import type {
  BlobContent,
  HostedRegistryApi,
  ManifestContent,
  PushedManifest,
  TagPage,
  UploadState,
} from "../registry.ts";

export interface HostedRegistryDeps {
  name: string;
  config: HostedConfig;
  cache: ContentCache;
  log: Logger;
}

function notYet(): never {
  throw new WharfError("UNSUPPORTED", "hosted registries are not implemented in this build");
}

export class HostedRegistry implements HostedRegistryApi {
  readonly kind = "hosted" as const;
  readonly name: string;
  readonly allowDelete: boolean;
  readonly anonymousPull: boolean;

  constructor(deps: HostedRegistryDeps) {
    this.name = deps.name;
    this.allowDelete = deps.config.allowDelete;
    this.anonymousPull = deps.config.anonymousPull;
  }

  manifest(): Promise<ManifestContent> {
    return notYet();
  }
  blob(): Promise<BlobContent> {
    return notYet();
  }
  tags(): Promise<TagPage> {
    return notYet();
  }
  mount(): Promise<boolean> {
    return notYet();
  }
  startUpload(): Promise<UploadState> {
    return notYet();
  }
  uploadStatus(): Promise<UploadState> {
    return notYet();
  }
  appendUpload(): Promise<UploadState> {
    return notYet();
  }
  finishUpload(): Promise<{ digest: string; size: number }> {
    return notYet();
  }
  cancelUpload(): Promise<void> {
    return notYet();
  }
  putManifest(): Promise<PushedManifest> {
    return notYet();
  }
  deleteManifest(): Promise<void> {
    return notYet();
  }
  deleteBlob(): Promise<void> {
    return notYet();
  }
  referrers(): Promise<Buffer> {
    return notYet();
  }
  catalog(): Promise<{ repositories: string[]; more: boolean }> {
    return notYet();
  }
}
