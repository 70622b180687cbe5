ALTER INDEX ops.task_executions_created_idx RESET (deduplicate_items);
