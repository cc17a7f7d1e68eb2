// The managed mirror's records in the shared database (appended to MIGRATIONS in pg-schema.ts):
// the same tables as the SQLite ones (metadata-db.ts), plus each tag's current target digest,
// which on one node is read from the hosted registry's tags but must be shared here, so every
// replica's serveUpstreamName answers the same.
export const MIRROR_MIGRATION = `
  CREATE TABLE mirror_tags (
    target_registry text NOT NULL, target_repository text NOT NULL, tag text NOT NULL,
    source_registry text NOT NULL, source_repository text NOT NULL,
    source_digest text, upstream_digest text, pinned_digest text, pinned_at bigint,
    synced_at bigint, checked_at bigint, size bigint, platforms jsonb NOT NULL DEFAULT '[]',
    current_digest text, current_media_type text,
    PRIMARY KEY (target_registry, target_repository, tag));
  CREATE TABLE mirror_history (
    target_registry text NOT NULL, target_repository text NOT NULL, tag text NOT NULL,
    history_tag text NOT NULL, digest text NOT NULL, replaced_at bigint NOT NULL, reason text NOT NULL,
    PRIMARY KEY (target_registry, target_repository, history_tag));
  CREATE INDEX mirror_history_by_tag ON mirror_history (target_registry, target_repository, tag);
  CREATE TABLE mirror_runs (
    entry text PRIMARY KEY, last_start bigint, last_end bigint, last_success bigint, last_error text,
    changes_total bigint NOT NULL DEFAULT 0, failures_total bigint NOT NULL DEFAULT 0);
  CREATE TABLE mirror_generation (id integer PRIMARY KEY CHECK (id = 0), value bigint NOT NULL);
  INSERT INTO mirror_generation VALUES (0, 0);`;
