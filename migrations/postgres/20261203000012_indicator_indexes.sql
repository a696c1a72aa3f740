-- Covering indexes for the equality indicators grouped in SQL, so that the two heaviest
-- measures read an index only, never the table rows:
-- obligations completed on time (a range of due dates, every cycle's completion and closure);
DROP INDEX obligations_by_due;
CREATE INDEX obligations_by_due ON obligations (due_on, user_id, module_slug, closure, completed_at);
-- the average best quiz score and the territorial review (per person and module, with the
-- score).
DROP INDEX completions_by_user_module;
CREATE INDEX completions_by_user_module ON completions (user_id, module_slug, completed_at, score);
