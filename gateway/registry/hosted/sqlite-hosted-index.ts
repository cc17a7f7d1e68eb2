// The hosted index of one node: HostedMeta over the cache's SQLite file, behind the asynchronous
// HostedIndex interface. Every call runs synchronously (the promise is already settled), and the
// writes that must not interleave with gc or with content checks run inside one BEGIN IMMEDIATE
// transaction together with the caller's guard, exactly as before the interface existed.
import type { MetadataDb } from "../../cache/metadata-db.ts";
import {
  type HostedIndex,
  type HostedUsage,
  type LinkKind,
  type ManifestRecord,
  type Page,
  type ReferrerRecord,
  referrerOf,
} from "../../store/hosted-index-api.ts";
import { HostedMeta } from "./hosted-meta.ts";

export class SqliteHostedIndex implements HostedIndex {
  readonly meta: HostedMeta;

  constructor(db: MetadataDb) {
    this.meta = new HostedMeta(db);
  }

  async linkKind(registry: string, repository: string, digest: string): Promise<LinkKind | undefined> {
    return this.meta.linkKind(registry, repository, digest);
  }

  async hasRepository(registry: string, repository: string): Promise<boolean> {
    return this.meta.hasRepository(registry, repository);
  }

  async getTag(registry: string, repository: string, tag: string) {
    return this.meta.getTag(registry, repository, tag);
  }

  async listTags(registry: string, repository: string, page: Page): Promise<string[]> {
    return this.meta.listTags(registry, repository, page);
  }

  async listRepositories(registry: string, page: Page): Promise<string[]> {
    return this.meta.listRepositories(registry, page);
  }

  async referrers(
    registry: string,
    repository: string,
    subject: string,
    artifactType?: string,
  ): Promise<ReferrerRecord[]> {
    return this.meta.referrers(registry, repository, subject, artifactType);
  }

  async usage(registry: string): Promise<HostedUsage> {
    return this.meta.usage(registry);
  }

  async linkBlob(
    registry: string,
    repository: string,
    digest: string,
    _size: number,
    now: number,
    guard?: () => boolean,
  ): Promise<boolean> {
    return this.meta.immediate(() => {
      if (guard && !guard()) return false;
      this.meta.link(registry, repository, digest, "blob", now);
      return true;
    });
  }

  async recordManifest(m: ManifestRecord, guard?: () => void): Promise<void> {
    const { meta } = this;
    meta.immediate(() => {
      guard?.();
      meta.link(m.registry, m.repository, m.digest, "manifest", m.now);
      for (const d of m.blobs) meta.link(m.registry, m.repository, d, "blob", m.now);
      for (const d of m.children) meta.link(m.registry, m.repository, d, "manifest", m.now);
      if (m.tag !== undefined) meta.putTag(m.registry, m.repository, m.tag, m.digest, m.mediaType);
      if (m.subject) meta.putReferrer(m.registry, m.repository, m.subject, referrerOf(m));
    });
  }

  async deleteTag(registry: string, repository: string, tag: string): Promise<boolean> {
    return this.meta.deleteTag(registry, repository, tag);
  }

  async deleteManifest(registry: string, repository: string, digest: string, now: number): Promise<boolean> {
    const { meta } = this;
    return meta.immediate(() => {
      if (meta.linkKind(registry, repository, digest) !== "manifest") return false;
      meta.deleteTagsOf(registry, repository, digest);
      meta.deleteReferrer(registry, repository, digest);
      meta.unlink(registry, repository, digest, now);
      return true;
    });
  }

  async unlinkBlob(registry: string, repository: string, digest: string, now: number): Promise<boolean> {
    const { meta } = this;
    return meta.immediate(() => {
      if (meta.linkKind(registry, repository, digest) === undefined) return false;
      return meta.unlink(registry, repository, digest, now);
    });
  }
}
