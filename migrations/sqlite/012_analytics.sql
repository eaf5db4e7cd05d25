-- analytics (services/analytics): a read model of tasks built from task events, so that
-- reports read a few indexed rows instead of every task. The consumer reads the outbox by seq
-- from its own cursor (as notifications and webhooks do) and applies each batch, and the cursor
-- move, in one transaction. Times are INTEGER epoch milliseconds; ids are UUIDv7 text.

-- The consumer: cursor, lease (one process at a time), and the backfill of tasks that existed
-- before the module (seeded data): backfill_after is the keyset cursor (task id) of the
-- backfill, backfilled = 1 once it is done. The cursor starts at the current end of the
-- outbox: older tasks come from the backfill, not from retained events.
CREATE TABLE analytics_consumer (
  id             INTEGER PRIMARY KEY CHECK (id = 1),
  last_seq       INTEGER NOT NULL,
  last_event_ms  INTEGER NOT NULL DEFAULT 0,   -- time of the last applied event (reports' as_of)
  backfilled     INTEGER NOT NULL DEFAULT 0,
  backfill_after TEXT NOT NULL DEFAULT '',
  holder         TEXT NOT NULL DEFAULT '',
  lease_until    INTEGER NOT NULL DEFAULT 0
);
INSERT INTO analytics_consumer (id, last_seq) SELECT 1, COALESCE(MAX(seq), 0) FROM events;

-- One row per task (deleted tasks keep their row with deleted = 1): what the events carry.
CREATE TABLE analytics_tasks (
  task_id      TEXT PRIMARY KEY,
  project_id   TEXT NOT NULL,
  number       INTEGER NOT NULL,
  title        TEXT NOT NULL,
  state_id     TEXT NOT NULL,
  state_group  TEXT NOT NULL,
  priority     INTEGER NOT NULL,
  start_date   TEXT,
  due_date     TEXT,
  estimate     INTEGER,
  parent_id    TEXT,
  assignee_ids TEXT NOT NULL DEFAULT '[]',   -- JSON arrays
  label_ids    TEXT NOT NULL DEFAULT '[]',
  custom_fields TEXT NOT NULL DEFAULT '{}',  -- JSON object as events carry it
  created_by   TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL,
  started_at   INTEGER,                      -- first entry into a "started" state
  completed_at INTEGER,
  archived_at  INTEGER,
  deleted      INTEGER NOT NULL DEFAULT 0,
  live_open    INTEGER NOT NULL DEFAULT 0,   -- not deleted, not archived, not completed/cancelled
  version      INTEGER NOT NULL,
  last_seq     INTEGER NOT NULL DEFAULT 0    -- the event applied last (0: backfill)
);
CREATE INDEX analytics_tasks_export_idx ON analytics_tasks (project_id, number);
CREATE INDEX analytics_tasks_due_idx ON analytics_tasks (project_id, live_open, due_date);
CREATE INDEX analytics_tasks_completed_idx ON analytics_tasks (project_id, completed_at, task_id, started_at, created_at)
  WHERE deleted = 0 AND archived_at IS NULL AND state_group = 'completed';

-- Current counts per project and dimension (state, group, priority, assignee, label, all),
-- kept by adding each change's difference: the summary and workload read these few rows.
-- key '' of dimension assignee is "unassigned".
CREATE TABLE analytics_counts (
  project_id   TEXT NOT NULL,
  dim          TEXT NOT NULL,
  dim_key      TEXT NOT NULL,
  total        INTEGER NOT NULL DEFAULT 0,
  open_n         INTEGER NOT NULL DEFAULT 0,
  open_points  INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (project_id, dim, dim_key)
);

-- Time series as differences per 15-minute bucket (a multiple of every UTC offset in use, so
-- local days of any zone are whole buckets). metric: created, completed (throughput events),
-- scope, done (burn-up levels), g:<group> (cumulative flow levels). A level at time t is the
-- sum of the differences before t.
CREATE TABLE analytics_series (
  project_id TEXT NOT NULL,
  metric     TEXT NOT NULL,
  bucket     INTEGER NOT NULL,
  n          INTEGER NOT NULL DEFAULT 0,
  points     INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (project_id, metric, bucket)
);

-- The same differences summed per UTC day: a report reads at most a row per day and metric for
-- the whole days of its range, and 15-minute rows only for the part of a day before a local
-- midnight of a zone other than UTC (analytics/service.cpp prefix_sums).
CREATE TABLE analytics_series_daily (
  project_id TEXT NOT NULL,
  metric     TEXT NOT NULL,
  day_ms     INTEGER NOT NULL,
  n          INTEGER NOT NULL DEFAULT 0,
  points     INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (project_id, metric, day_ms)
);

-- State transitions (history): from '' when the task appeared.
CREATE TABLE analytics_transitions (
  task_id    TEXT NOT NULL,
  project_id TEXT NOT NULL,
  at_ms         INTEGER NOT NULL,
  from_state TEXT NOT NULL,
  to_state   TEXT NOT NULL,
  from_group TEXT NOT NULL,
  to_group   TEXT NOT NULL,
  seq        INTEGER NOT NULL
);
CREATE INDEX analytics_transitions_task_idx ON analytics_transitions (task_id, at_ms);
CREATE INDEX analytics_transitions_project_idx ON analytics_transitions (project_id, at_ms);
