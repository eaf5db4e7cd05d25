-- projects: workspaces, their members and invitations, projects, project members, workflow
-- states and labels. Owned by the projects service; other services ask through
-- services/projects/client.hpp. User ids are auth's users(id), deliberately without a foreign
-- key (services own their tables). Times are INTEGER epoch milliseconds (UTC); ids UUIDv7 text.

CREATE TABLE workspaces (
  id         TEXT PRIMARY KEY,
  name       TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE workspace_members (
  workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  user_id      TEXT NOT NULL,
  role         TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'guest')),
  created_at   INTEGER NOT NULL,
  PRIMARY KEY (workspace_id, user_id)
);
CREATE INDEX workspace_members_user_idx ON workspace_members (user_id, workspace_id);

CREATE TABLE workspace_invitations (
  id           TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  email        TEXT NOT NULL,               -- normalised (lower case)
  role         TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'guest')),
  token_hash   TEXT NOT NULL,               -- hex SHA-256 of the single-use token
  invited_by   TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  expires_at   INTEGER NOT NULL,
  accepted_at  INTEGER,
  revoked_at   INTEGER
);
CREATE UNIQUE INDEX workspace_invitations_token_key ON workspace_invitations (token_hash);
CREATE INDEX workspace_invitations_ws_idx ON workspace_invitations (workspace_id, id);

CREATE TABLE projects (
  id           TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  name         TEXT NOT NULL,
  key          TEXT NOT NULL,
  description  TEXT NOT NULL DEFAULT '',
  is_private   INTEGER NOT NULL DEFAULT 0 CHECK (is_private IN (0, 1)),
  archived_at  INTEGER,
  version      INTEGER NOT NULL DEFAULT 1,
  created_by   TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL
);
CREATE UNIQUE INDEX projects_ws_key ON projects (workspace_id, key);
CREATE INDEX projects_ws_idx ON projects (workspace_id, id);

CREATE TABLE project_members (
  project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  user_id    TEXT NOT NULL,
  role       TEXT NOT NULL CHECK (role IN ('admin', 'member', 'viewer')),
  created_at INTEGER NOT NULL,
  PRIMARY KEY (project_id, user_id)
);
CREATE INDEX project_members_user_idx ON project_members (user_id, project_id);

CREATE TABLE workflow_states (
  id         TEXT PRIMARY KEY,
  project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  name       TEXT NOT NULL,
  grp        TEXT NOT NULL CHECK (grp IN ('backlog', 'unstarted', 'started', 'completed', 'cancelled')),
  color      TEXT NOT NULL,
  position   INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX workflow_states_project_idx ON workflow_states (project_id, position);

CREATE TABLE labels (
  id         TEXT PRIMARY KEY,
  project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  name       TEXT NOT NULL,
  name_lower TEXT NOT NULL,
  color      TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX labels_project_name_key ON labels (project_id, name_lower);
