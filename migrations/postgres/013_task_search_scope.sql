-- The full-text rows carry their task's project (as migration sqlite/013 does with a scope
-- token), so a project's search filters by project before ranking: ts_rank was computed for
-- every match in the instance and the other projects' rows dropped only at the join with tasks
-- (a common word at 100k tasks in 10 projects: 4194 ranks computed for ~400 rows kept). With
-- the project index the planner ANDs the two bitmaps. Tasks never change project.
ALTER TABLE task_search ADD COLUMN project_id TEXT;
UPDATE task_search s SET project_id = t.project_id FROM tasks t WHERE t.id = s.task_id;
ALTER TABLE task_search ALTER COLUMN project_id SET NOT NULL;
CREATE INDEX task_search_project_idx ON task_search (project_id);
