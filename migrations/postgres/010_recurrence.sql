-- Recurring tasks (issue 4): the rule as canonical JSON (see src/services/tasks/recurrence.hpp)
-- and, on a completed occurrence, the id of the occurrence its completion created (so that
-- completing it again after a reopen creates nothing new).
ALTER TABLE tasks ADD COLUMN recurrence TEXT;
ALTER TABLE tasks ADD COLUMN next_occurrence_id TEXT;
