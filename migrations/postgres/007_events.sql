-- events: the transactional outbox (services/events). A service inserts a row in the same
-- transaction as the change it describes; the relay (one at a time across processes: the
-- lease in event_relay) later gives it `seq`, strictly increasing in publish order, and
-- publishes it on the bus. seq is NULL until then: it cannot come from an auto-increment at
-- insert time, because on PostgreSQL concurrent transactions commit out of insertion order
-- and a replay "seq > N" would miss a row committed late with a lower number.
-- Published rows are kept EVENT_RETENTION_HOURS (>= 24) and then purged by the relay.
-- Times are BIGINT epoch milliseconds; ids are UUIDv7 text; payload is JSON object text.

CREATE TABLE events (
  id             TEXT PRIMARY KEY,
  seq            BIGINT,                      -- NULL until relayed
  type           TEXT NOT NULL,
  time_ms        BIGINT NOT NULL,
  actor_id       TEXT NOT NULL DEFAULT '',
  workspace_id   TEXT NOT NULL DEFAULT '',
  project_id     TEXT NOT NULL DEFAULT '',
  task_id        TEXT NOT NULL DEFAULT '',
  user_id        TEXT NOT NULL DEFAULT '',
  entity_type    TEXT NOT NULL DEFAULT '',
  entity_id      TEXT NOT NULL DEFAULT '',
  payload        TEXT NOT NULL DEFAULT '{}',
  schema_version INTEGER NOT NULL DEFAULT 1,
  relayed_at     BIGINT,                      -- when seq was assigned (retention counts from here)
  published_at   BIGINT                       -- when the bus accepted it (NULL: relay retries)
);
-- Replay (seq > N) and the relay's "next to publish"; unique: one seq per event.
CREATE UNIQUE INDEX events_seq_key ON events (seq) WHERE seq IS NOT NULL;
-- The relay's "sequenced but not yet accepted by the bus", in seq order.
CREATE INDEX events_unpublished_idx ON events (seq) WHERE seq IS NOT NULL AND published_at IS NULL;
-- The relay's "not yet sequenced", oldest first.
CREATE INDEX events_pending_idx ON events (time_ms, id) WHERE seq IS NULL;
-- Retention purge, oldest first.
CREATE INDEX events_relayed_idx ON events (relayed_at) WHERE relayed_at IS NOT NULL;

-- One row: the last seq handed out, the lease of the relay that may hand out the next ones
-- (holder, lease_until), and the name of this database's Redis stream (chosen once, so that
-- deployments sharing a Redis server never read each other's events).
CREATE TABLE event_relay (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  last_seq    BIGINT NOT NULL DEFAULT 0,
  holder      TEXT NOT NULL DEFAULT '',
  lease_until BIGINT NOT NULL DEFAULT 0,
  stream      TEXT NOT NULL DEFAULT ''
);
INSERT INTO event_relay (id, last_seq, holder, lease_until, stream) VALUES (1, 0, '', 0, '');
