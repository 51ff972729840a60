-- Tool executions.
CREATE OR REPLACE VIEW tool_calls AS
SELECT * FROM spans WHERE operation = 'execute_tool';
