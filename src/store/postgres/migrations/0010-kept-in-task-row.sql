-- Version 10 on PostgreSQL: nothing changes. Kept results stay task_run_results rows here; only
-- the SQLite store writes them in the task run's row (src/store/migrations/0010-kept-in-task-row.sql).
SELECT 1;
