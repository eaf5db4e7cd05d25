-- idempotency: Idempotency-Key reservations and recorded answers for POST requests
-- (services/idempotency). One row per (user, key); rows expire 24 hours after created_at
-- and are deleted by the module's clean-up thread. Times are BIGINT epoch milliseconds.

CREATE TABLE idempotency_keys (
  user_id          TEXT NOT NULL,
  idem_key         TEXT NOT NULL,              -- hex BLAKE2b of the key (the raw key is never stored)
  request_hash     TEXT NOT NULL,              -- hex SHA-256 of method, target and body hash
  status           TEXT NOT NULL CHECK (status IN ('pending', 'complete')),
  response_status  INTEGER,                    -- set when complete
  response_headers TEXT,                       -- JSON object: Content-Type, Location, ETag
  response_body    TEXT,                       -- base64 secretbox, key derived from user + raw key
  created_at       BIGINT NOT NULL,
  locked_at        BIGINT NOT NULL,            -- start of the pending lease (takeover after 60 s)
  PRIMARY KEY (user_id, idem_key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
