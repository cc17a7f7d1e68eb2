// Migration 5 (appended to MIGRATIONS in pg-schema.ts): what replicas must agree on beyond the
// content index. The token signing key (one row: the first replica to start writes it, every
// replica reads it), robot tokens (the SHA-256 of their secret, never the secret), and gc's
// tombstones: `collected_at` marks a digest whose object gc removed from the bucket, so a push that
// looked at the bucket before the removal and links after it notices (pg-hosted-index.ts).
export const INTEG_MIGRATION = `
  CREATE TABLE token_signing_key (id integer PRIMARY KEY CHECK (id = 0), key text NOT NULL);
  CREATE TABLE robot_tokens (
    id text PRIMARY KEY, name text NOT NULL UNIQUE, secret_sha256 text NOT NULL, scopes jsonb NOT NULL,
    created_at bigint NOT NULL, expires_at bigint);
  ALTER TABLE hosted_orphans ADD COLUMN collected_at bigint;`;
