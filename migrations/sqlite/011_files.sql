-- files (services/files): attachment metadata. The bytes live in the blob store (local disk or
-- S3) under a content-addressed key (sha256/<2 hex>/<64 hex>): the same content uploaded twice
-- is stored once, and a blob is removed only when no attachment points to it (at delete time,
-- or by the periodic orphan collector after a grace period). Times are epoch milliseconds.

CREATE TABLE attachments (
  id            TEXT PRIMARY KEY,
  task_id       TEXT NOT NULL,
  comment_id    TEXT,
  project_id    TEXT NOT NULL,
  workspace_id  TEXT NOT NULL,
  uploader_id   TEXT NOT NULL,
  name          TEXT NOT NULL,                -- sanitised: no path, no control or bidi characters
  content_type  TEXT NOT NULL,                -- detected from the bytes (libmagic)
  size          INTEGER NOT NULL,
  sha256        TEXT NOT NULL,                -- hex
  blob_key      TEXT NOT NULL,
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL
);
CREATE INDEX attachments_task_idx ON attachments (task_id, id);
CREATE INDEX attachments_project_idx ON attachments (project_id);
CREATE INDEX attachments_blob_idx ON attachments (blob_key);

-- Bytes attached per workspace (the quota). Uploads update this row first in their
-- transaction, so concurrent uploads to one workspace are serialised on it (PostgreSQL row
-- lock; SQLite has one writer) and the quota and per-task bound cannot be overrun by a race.
CREATE TABLE files_usage (
  workspace_id  TEXT PRIMARY KEY,
  bytes         INTEGER NOT NULL DEFAULT 0
);
