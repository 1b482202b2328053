ALTER TABLE users DROP COLUMN email_verified_at;
DROP TABLE rate_events;
DROP TABLE account_tokens;
DROP TABLE email_outbox;
