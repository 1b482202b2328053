DROP INDEX email_outbox_sent_at_idx;
DROP INDEX rate_events_at_idx;
DROP INDEX account_tokens_expires_at_idx;
DROP INDEX mfa_failures_failed_at_idx;
DROP INDEX mfa_challenges_expires_at_idx;
DROP INDEX sessions_revoked_at_idx;
DROP INDEX sessions_expires_at_idx;
DROP INDEX audit_log_target_idx;
