-- CASCADE: functions return these tables' row types; migrate re-creates them.
DROP TABLE ops.agent_playground_messages CASCADE;
DROP TABLE ops.events CASCADE;
DROP TABLE ops.task_executions CASCADE;
DROP TABLE ops.workflows CASCADE;
