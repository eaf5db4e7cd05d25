-- tasks: tasks, per-project number counters, assignees, labels, comments, mentions, activity,
-- watchers. Owned by the tasks service; project ids, state ids, label ids and user ids refer
-- to other services' rows and are checked through their clients, so they carry no foreign keys.
-- Times are INTEGER epoch milliseconds (UTC); dates are 'YYYY-MM-DD' text; ids are UUIDv7 text.

CREATE TABLE task_counters (
  project_id  TEXT PRIMARY KEY,
  last_number INTEGER NOT NULL
);

CREATE TABLE tasks (
  id           TEXT PRIMARY KEY,
  project_id   TEXT NOT NULL,
  number       INTEGER NOT NULL,
  title        TEXT NOT NULL,
  description  TEXT NOT NULL DEFAULT '',
  state_id     TEXT NOT NULL,
  state_group  TEXT NOT NULL,            -- denormalised from the projects service
  priority     INTEGER NOT NULL DEFAULT 0 CHECK (priority BETWEEN 0 AND 4),  -- none..urgent
  start_date   TEXT,
  due_date     TEXT,
  estimate     INTEGER,
  parent_id    TEXT REFERENCES tasks (id),
  position     REAL NOT NULL,
  completed_at INTEGER,
  archived_at  INTEGER,
  deleted_at   INTEGER,
  created_by   TEXT NOT NULL,
  version      INTEGER NOT NULL DEFAULT 1,
  created_at   INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL
);
CREATE UNIQUE INDEX tasks_project_number_key ON tasks (project_id, number);
CREATE INDEX tasks_project_created_idx ON tasks (project_id, created_at, id);
CREATE INDEX tasks_project_updated_idx ON tasks (project_id, updated_at, id);
CREATE INDEX tasks_project_priority_idx ON tasks (project_id, priority, id);
CREATE INDEX tasks_project_due_idx ON tasks (project_id, (COALESCE(due_date, '9999-12-31')), id);
CREATE INDEX tasks_project_position_idx ON tasks (project_id, position, id);
CREATE INDEX tasks_project_state_idx ON tasks (project_id, state_id, position, id);
CREATE INDEX tasks_project_group_idx ON tasks (project_id, state_group, id);
CREATE INDEX tasks_parent_idx ON tasks (parent_id);

CREATE TABLE task_assignees (
  task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
  user_id TEXT NOT NULL,
  PRIMARY KEY (task_id, user_id)
);
CREATE INDEX task_assignees_user_idx ON task_assignees (user_id, task_id);

CREATE TABLE task_labels (
  task_id  TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
  label_id TEXT NOT NULL,
  PRIMARY KEY (task_id, label_id)
);
CREATE INDEX task_labels_label_idx ON task_labels (label_id, task_id);

CREATE TABLE task_watchers (
  task_id    TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
  user_id    TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (task_id, user_id)
);

CREATE TABLE task_comments (
  id         TEXT PRIMARY KEY,
  task_id    TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
  author_id  TEXT NOT NULL,
  body       TEXT NOT NULL,
  version    INTEGER NOT NULL DEFAULT 1,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX task_comments_task_idx ON task_comments (task_id, id);

CREATE TABLE comment_mentions (
  comment_id TEXT NOT NULL REFERENCES task_comments (id) ON DELETE CASCADE,
  user_id    TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (comment_id, user_id)
);
CREATE INDEX comment_mentions_user_idx ON comment_mentions (user_id, created_at);

CREATE TABLE task_activity (
  id         TEXT PRIMARY KEY,
  task_id    TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
  actor_id   TEXT NOT NULL,
  kind       TEXT NOT NULL,               -- created, updated, deleted, restored, archived, ..., comment_*
  field      TEXT,
  old_value  TEXT,
  new_value  TEXT,
  created_at INTEGER NOT NULL
);
CREATE INDEX task_activity_task_idx ON task_activity (task_id, id);

-- Relations are stored once: blocks (source blocks target), relates_to, duplicate_of (source
-- duplicates target). "blocked_by" is a blocks row seen from the target's side.
CREATE TABLE task_relations (
  id         TEXT PRIMARY KEY,
  kind       TEXT NOT NULL CHECK (kind IN ('blocks', 'relates_to', 'duplicate_of')),
  source_id  TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
  target_id  TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX task_relations_pair_key ON task_relations (source_id, target_id, kind);
CREATE INDEX task_relations_target_idx ON task_relations (target_id);

-- Reactions on tasks and comments, from a bounded set of emoji names (thumbs_up, heart, ...).
-- target_id is a task id or a comment id (no foreign key: two possible parents); rows are
-- removed with their task or comment by the service.
CREATE TABLE task_reactions (
  target_kind TEXT NOT NULL CHECK (target_kind IN ('task', 'comment')),
  target_id   TEXT NOT NULL,
  user_id     TEXT NOT NULL,
  emoji       TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (target_id, emoji, user_id)
);

-- Full-text search over title, description and comments (FTS5). The rowid of a row here is the
-- rowid of its task; the service rewrites a task's row whenever its title, description or
-- comments change.
CREATE VIRTUAL TABLE task_search USING fts5(title, body, tokenize = 'unicode61 remove_diacritics 2');

-- Saved views: a named filter + sort (the query string of GET /projects/{id}/tasks), private
-- to its owner or shared with everyone who can see the project.
CREATE TABLE saved_views (
  id         TEXT PRIMARY KEY,
  project_id TEXT NOT NULL,
  owner_id   TEXT NOT NULL,
  name       TEXT NOT NULL,
  query      TEXT NOT NULL,
  shared     INTEGER NOT NULL DEFAULT 0,
  version    INTEGER NOT NULL DEFAULT 1,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX saved_views_project_idx ON saved_views (project_id, id);
