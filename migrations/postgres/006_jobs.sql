-- jobs: the durable background job queue (services/jobs). A job is enqueued in the
-- transaction of the change that asked for it and run by a worker under a lease; a job whose
-- lease expired (its worker died) is claimed again. Times are BIGINT epoch milliseconds.

CREATE TABLE jobs (
  id            TEXT PRIMARY KEY,            -- UUIDv7
  kind          TEXT NOT NULL,               -- handler name, e.g. "email.send"
  payload       TEXT NOT NULL,               -- JSON object text
  job_key       TEXT UNIQUE,                 -- idempotency key: a second enqueue is ignored (NULL: none)
  state         TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  attempt       INTEGER NOT NULL DEFAULT 0,  -- attempts started so far
  max_attempts  INTEGER NOT NULL,            -- then 'failed' (the dead-letter state)
  run_at        BIGINT NOT NULL,             -- not before (scheduling and retry backoff)
  lease_until   BIGINT,                      -- while running: claimed again after this
  locked_by     TEXT,                        -- worker id of the current lease
  last_error    TEXT,                        -- bounded (1000 bytes)
  created_at    BIGINT NOT NULL,
  updated_at    BIGINT NOT NULL,
  finished_at   BIGINT                       -- succeeded, failed or cancelled
);
-- Claiming: due queued jobs in order, and expired leases.
CREATE INDEX jobs_queued_idx ON jobs (run_at, id) WHERE state = 'queued';
CREATE INDEX jobs_running_idx ON jobs (lease_until) WHERE state = 'running';
-- Retention and the admin list filter.
CREATE INDEX jobs_state_idx ON jobs (state, finished_at);

-- One row per periodic job and tick: whichever worker inserts it enqueues the job, in the
-- same transaction, so a tick runs once however many workers there are.
CREATE TABLE job_ticks (
  name        TEXT NOT NULL,
  tick_at     BIGINT NOT NULL,
  created_at  BIGINT NOT NULL,
  PRIMARY KEY (name, tick_at)
);
