-- Nothing on PostgreSQL: its task_search rows (tsvector) are written by each unit directly.
-- SQLite's migration 014 stages FTS5 rows until COMMIT; the number is kept in step.
SELECT 1;
