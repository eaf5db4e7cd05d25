-- auth: accounts, sessions (refresh-token families), refresh tokens, API tokens,
-- password resets and the login-failure log used for per-account throttling.
-- Times are BIGINT epoch milliseconds (UTC); ids are UUIDv7 text.

CREATE TABLE users (
  id            TEXT PRIMARY KEY,
  email         TEXT NOT NULL,            -- normalised: trimmed, lower case
  display_name  TEXT NOT NULL,
  timezone      TEXT NOT NULL DEFAULT 'UTC',
  password_hash TEXT NOT NULL,            -- Argon2id, libsodium string format
  is_admin      BOOLEAN NOT NULL DEFAULT FALSE,
  is_active     BOOLEAN NOT NULL DEFAULT TRUE,
  token_version BIGINT NOT NULL DEFAULT 0,
  created_at    BIGINT NOT NULL,
  updated_at    BIGINT NOT NULL
);
CREATE UNIQUE INDEX users_email_key ON users (email);
CREATE INDEX users_admin_idx ON users (id) WHERE is_admin;

CREATE TABLE sessions (
  id           TEXT PRIMARY KEY,
  user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  user_agent   TEXT NOT NULL DEFAULT '',
  ip           TEXT NOT NULL DEFAULT '',
  created_at   BIGINT NOT NULL,
  last_used_at BIGINT NOT NULL,
  expires_at   BIGINT NOT NULL,
  revoked_at   BIGINT
);
CREATE INDEX sessions_user_idx ON sessions (user_id, created_at);

CREATE TABLE refresh_tokens (
  token_hash TEXT PRIMARY KEY,            -- hex SHA-256 of the token
  session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  created_at BIGINT NOT NULL,
  used_at    BIGINT
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

CREATE TABLE api_tokens (
  id           TEXT PRIMARY KEY,
  user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  name         TEXT NOT NULL,
  scope        TEXT NOT NULL CHECK (scope IN ('read', 'read-write')),
  token_hash   TEXT NOT NULL,             -- hex SHA-256 of the token
  token_prefix TEXT NOT NULL,
  created_at   BIGINT NOT NULL,
  expires_at   BIGINT,
  last_used_at BIGINT,
  revoked_at   BIGINT
);
CREATE UNIQUE INDEX api_tokens_hash_key ON api_tokens (token_hash);
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id, created_at);

CREATE TABLE password_resets (
  token_hash TEXT PRIMARY KEY,            -- hex SHA-256 of the token
  user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  used_at    BIGINT
);
CREATE INDEX password_resets_user_idx ON password_resets (user_id);

-- One row per failed login, keyed by the normalised e-mail (known or not), so the
-- throttle holds across processes sharing the database.
CREATE TABLE login_failures (
  id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  throttle_key TEXT NOT NULL,
  at           BIGINT NOT NULL
);
CREATE INDEX login_failures_key_idx ON login_failures (throttle_key, at);
CREATE INDEX login_failures_at_idx ON login_failures (at);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);
CREATE INDEX password_resets_expires_idx ON password_resets (expires_at);
