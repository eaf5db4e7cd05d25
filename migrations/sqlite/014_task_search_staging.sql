-- Search rows written by a transaction's write units wait here and go into task_search once,
-- just before COMMIT (Connection::before_commit; tasks' flush_search_staging). FTS5 writes a
-- new segment at the end of every statement and savepoint that touched it, and the group
-- commit runs each unit in a savepoint, so one search row per unit cost one segment per
-- created task, and the merges that follow: 10% of the CPU of a create-heavy profile. The
-- table is empty between transactions. Rows of tasks deleted in the same transaction are
-- dropped by the flush (it keeps only rows whose task still exists).
CREATE TABLE task_search_staging (
  task_rowid INTEGER PRIMARY KEY,  -- tasks.rowid, which is also the task's task_search rowid
  title      TEXT NOT NULL,
  body       TEXT NOT NULL,
  scope      TEXT NOT NULL
);
