DELETE FROM permissions WHERE name = 'api_tokens:manage';
DROP TABLE api_tokens;
DROP TABLE audit_log;
