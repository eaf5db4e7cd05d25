-- notifications (services/notifications): in-app notifications, preferences, the durable
-- outbox consumer's cursor and lease, a projection of tasks (due dates, titles) built from
-- task events, and the e-mail outbox that makes every e-mail go out at most once.
-- Times are INTEGER epoch milliseconds; ids are UUIDv7 text.

CREATE TABLE notifications (
  id             TEXT PRIMARY KEY,
  user_id        TEXT NOT NULL,
  kind           TEXT NOT NULL,
  source_key     TEXT NOT NULL,               -- the event id, or "due_soon:<task>:<date>": idempotency
  actor_id       TEXT NOT NULL DEFAULT '',
  workspace_id   TEXT NOT NULL DEFAULT '',
  project_id     TEXT NOT NULL DEFAULT '',
  task_id        TEXT NOT NULL DEFAULT '',
  title          TEXT NOT NULL,
  body           TEXT NOT NULL DEFAULT '',    -- Markdown (a comment), bounded
  data           TEXT NOT NULL DEFAULT '{}',  -- JSON object text
  created_at     BIGINT NOT NULL,
  read_at        BIGINT,
  email_state    TEXT NOT NULL DEFAULT 'none' CHECK (email_state IN ('none', 'pending', 'batched')),
  email_id       TEXT,                        -- the email_outbox row that carried it
  hidden         INTEGER NOT NULL DEFAULT 0,  -- in-app off for the kind: kept only for e-mail
  UNIQUE (source_key, user_id, kind)
);
CREATE INDEX notifications_user_idx ON notifications (user_id, id);
CREATE INDEX notifications_unread_idx ON notifications (user_id, id) WHERE read_at IS NULL AND hidden = 0;
CREATE INDEX notifications_pending_email_idx ON notifications (user_id, id) WHERE email_state = 'pending';

-- Missing row: the defaults of the kind (services/notifications/service.cpp kKinds).
CREATE TABLE notification_prefs (
  user_id  TEXT NOT NULL,
  kind     TEXT NOT NULL,
  in_app   INTEGER NOT NULL,
  email    INTEGER NOT NULL,
  PRIMARY KEY (user_id, kind)
);

CREATE TABLE notification_settings (
  user_id    TEXT PRIMARY KEY,
  timezone   TEXT NOT NULL,
  updated_at BIGINT NOT NULL
);

-- The outbox consumer: one row, the last event seq whose notifications are committed, and a
-- lease so one process at a time consumes. Starts at the current end of the outbox so that
-- enabling the module does not notify about the retained past.
CREATE TABLE notification_consumer (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  last_seq    BIGINT NOT NULL,
  holder      TEXT NOT NULL DEFAULT '',
  lease_until BIGINT NOT NULL DEFAULT 0
);
INSERT INTO notification_consumer (id, last_seq) SELECT 1, COALESCE(MAX(seq), 0) FROM events;

-- What notifications know about tasks, from task.* events (services own their data).
CREATE TABLE notification_tasks (
  task_id      TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL,
  project_id   TEXT NOT NULL,
  number       BIGINT NOT NULL,
  title        TEXT NOT NULL,
  due_date     TEXT,                          -- YYYY-MM-DD
  open         INTEGER NOT NULL,              -- not completed, cancelled, archived or deleted
  assignee_ids TEXT NOT NULL DEFAULT '[]',    -- JSON array
  updated_at   BIGINT NOT NULL
);
CREATE INDEX notification_tasks_due_idx ON notification_tasks (due_date) WHERE open = 1 AND due_date IS NOT NULL;

-- One row per e-mail: batch_key is unique (email:<user>:<window>, digest:<user>:<local date>),
-- the content is fixed when the row is made, and the state says whether SMTP was attempted:
-- pending -> sending (committed before SMTP) -> sent. A 'sending' row is never sent again.
CREATE TABLE email_outbox (
  id          TEXT PRIMARY KEY,
  user_id     TEXT NOT NULL,
  batch_key   TEXT NOT NULL UNIQUE,
  state       TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'abandoned')),
  to_addr     TEXT NOT NULL,
  subject     TEXT NOT NULL,
  text_body   TEXT NOT NULL,
  html_body   TEXT NOT NULL,
  headers     TEXT NOT NULL DEFAULT '[]',     -- JSON array of [name, value]
  created_at  BIGINT NOT NULL,
  sending_at  BIGINT,
  sent_at     BIGINT
);
CREATE INDEX email_outbox_user_idx ON email_outbox (user_id, created_at);
