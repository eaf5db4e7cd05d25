-- webhooks (services/webhooks): per-project HTTP callbacks for domain events.
-- A durable consumer reads the outbox (events, by seq) from the cursor in webhook_consumer and,
-- in one transaction, creates one delivery per (webhook, event) plus the job that sends it and
-- advances the cursor. Times are INTEGER epoch milliseconds; ids are UUIDv7 text.

CREATE TABLE webhooks (
  id              TEXT PRIMARY KEY,
  project_id      TEXT NOT NULL,
  workspace_id    TEXT NOT NULL,
  url             TEXT NOT NULL,
  secret          TEXT NOT NULL,                -- the HMAC key; must be readable to sign
  event_types     TEXT NOT NULL,                -- JSON array of strings ("*", "task.*", "task.created")
  active          BOOLEAN NOT NULL DEFAULT TRUE,
  disabled_reason TEXT,
  disabled_at     BIGINT,
  failing_since   BIGINT,                      -- first failed attempt since the last success
  created_by      TEXT NOT NULL,
  created_at      BIGINT NOT NULL,
  updated_at      BIGINT NOT NULL
);
CREATE INDEX webhooks_project_idx ON webhooks (project_id, id);

-- One row per (webhook, event): the consumer's idempotency key. body is the exact JSON sent,
-- so every retry signs and sends the same bytes.
CREATE TABLE webhook_deliveries (
  id            TEXT PRIMARY KEY,
  webhook_id    TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
  event_id      TEXT NOT NULL,
  event_type    TEXT NOT NULL,
  body          TEXT NOT NULL,
  status        TEXT NOT NULL CHECK (status IN ('pending', 'retrying', 'succeeded', 'failed', 'skipped')),
  attempts      BIGINT NOT NULL DEFAULT 0,
  response_code BIGINT,
  duration_ms   BIGINT,
  error         TEXT,
  created_at    BIGINT NOT NULL,
  updated_at    BIGINT NOT NULL,
  UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_log_idx ON webhook_deliveries (webhook_id, id);
-- Retention: finished deliveries are deleted after 30 days (periodic job webhooks.purge).
CREATE INDEX webhook_deliveries_created_idx ON webhook_deliveries (created_at);

-- One row per attempt (the log shows them under their delivery).
CREATE TABLE webhook_attempts (
  delivery_id   TEXT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
  attempt       BIGINT NOT NULL,
  status        TEXT NOT NULL,                -- succeeded | failed
  response_code BIGINT,
  duration_ms   BIGINT NOT NULL,
  error         TEXT,
  created_at    BIGINT NOT NULL,
  PRIMARY KEY (delivery_id, attempt)
);

-- One row: the consumer's cursor (last outbox seq fanned out) and the lease that makes one
-- consumer at a time across processes.
CREATE TABLE webhook_consumer (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  last_seq    BIGINT NOT NULL DEFAULT 0,
  holder      TEXT NOT NULL DEFAULT '',
  lease_until BIGINT NOT NULL DEFAULT 0
);
INSERT INTO webhook_consumer (id, last_seq, holder, lease_until) VALUES (1, 0, '', 0);
