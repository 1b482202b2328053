-- What was done to an account (myActivity), newest first: with audit_log_actor_id_idx, one
-- bitmap OR of two index ranges instead of a scan of the whole log.
CREATE INDEX audit_log_target_idx ON audit_log (target_type, target_id, id);

-- What the hourly cleanup deletes by (src/cleanup.rs), so it reads the expired rows only.
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);
CREATE INDEX sessions_revoked_at_idx ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX mfa_challenges_expires_at_idx ON mfa_challenges (expires_at);
CREATE INDEX mfa_failures_failed_at_idx ON mfa_failures (failed_at);
CREATE INDEX account_tokens_expires_at_idx ON account_tokens (expires_at);
CREATE INDEX rate_events_at_idx ON rate_events (at);
CREATE INDEX email_outbox_sent_at_idx ON email_outbox (sent_at) WHERE sent_at IS NOT NULL;
