DROP TABLE ops.agent_playground_messages;
DROP TABLE ops.events CASCADE;
DROP TABLE ops.task_executions CASCADE;
DROP TABLE ops.workflows CASCADE;
