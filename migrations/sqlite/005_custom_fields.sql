-- tasks: custom fields per project and their values on tasks; an index for the purge of
-- deleted tasks. Owned by the tasks service (project ids and user ids are other services'
-- rows, checked through the projects client).

-- type: text, number, date, single_select, multi_select, user. options: JSON array of
-- {"id", "name", "color"?} for the select types, [] otherwise. name_key: lower-case name (unique
-- per project).
CREATE TABLE custom_fields (
  id         TEXT PRIMARY KEY,
  project_id TEXT NOT NULL,
  name       TEXT NOT NULL,
  name_key   TEXT NOT NULL,
  type       TEXT NOT NULL CHECK (type IN ('text', 'number', 'date', 'single_select', 'multi_select', 'user')),
  options    TEXT NOT NULL DEFAULT '[]',
  created_by TEXT NOT NULL,
  version    INTEGER NOT NULL DEFAULT 1,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX custom_fields_project_name_key ON custom_fields (project_id, name_key);

-- One row per value: a multi_select value is one row per chosen option. value_text holds the
-- text, the date, the option id, the user id, or the number's canonical text (so equality
-- filters of every type use one index); value_number the number of a number field.
CREATE TABLE task_custom_values (
  task_id      TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
  field_id     TEXT NOT NULL REFERENCES custom_fields (id) ON DELETE CASCADE,
  value_text   TEXT NOT NULL,
  value_number REAL,
  PRIMARY KEY (task_id, field_id, value_text)
);
CREATE INDEX task_custom_values_filter_idx ON task_custom_values (field_id, value_text, task_id);

CREATE INDEX tasks_deleted_idx ON tasks (deleted_at) WHERE deleted_at IS NOT NULL;
