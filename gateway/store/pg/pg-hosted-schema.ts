// Hosted registries' shared records (appended to MIGRATIONS in pg-schema.ts): the index a hosted
// registry keeps (links, tags, referrers, gc candidates) and upload sessions whose chunks are
// objects in the bucket. Text that is listed in order is COLLATE "C": byte order, as the spec's
// tag pagination and SQLite's BINARY collation give on one node.
export const HOSTED_MIGRATION = `
  CREATE TABLE hosted_links (
    registry text NOT NULL, repository text COLLATE "C" NOT NULL, digest text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('blob', 'manifest')), size bigint, created_at bigint NOT NULL,
    PRIMARY KEY (registry, repository, digest));
  CREATE INDEX hosted_links_digest ON hosted_links (digest);
  CREATE TABLE hosted_tags (
    registry text NOT NULL, repository text NOT NULL, tag text COLLATE "C" NOT NULL,
    digest text NOT NULL, media_type text NOT NULL,
    PRIMARY KEY (registry, repository, tag));
  CREATE TABLE hosted_referrers (
    registry text NOT NULL, repository text NOT NULL, subject text NOT NULL, digest text COLLATE "C" NOT NULL,
    artifact_type text, media_type text NOT NULL, size bigint NOT NULL, annotations jsonb,
    PRIMARY KEY (registry, repository, subject, digest));
  CREATE TABLE hosted_orphans (digest text PRIMARY KEY, since bigint NOT NULL);
  CREATE TABLE hosted_uploads (
    id text PRIMARY KEY, registry text NOT NULL, repository text NOT NULL,
    "offset" bigint NOT NULL, created_at bigint NOT NULL, updated_at bigint NOT NULL,
    finishing_at bigint);
  CREATE TABLE hosted_upload_chunks (
    id text NOT NULL REFERENCES hosted_uploads ON DELETE CASCADE, start bigint NOT NULL,
    size bigint NOT NULL, key text NOT NULL,
    PRIMARY KEY (id, start));`;
