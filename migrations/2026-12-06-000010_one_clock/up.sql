-- Every time a row holds is the app clock's (src/clock.rs), which the server binds: a default
-- of the database's now() would stamp a row by another clock than the one later compared with
-- it (mail enqueued with the clock pinned in the past was never due). Without the defaults an
-- insert that forgets a time fails instead.
ALTER TABLE users
    ALTER COLUMN created_at DROP DEFAULT,
    ALTER COLUMN updated_at DROP DEFAULT;
ALTER TABLE roles
    ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE permissions
    ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE user_roles
    ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE sessions
    ALTER COLUMN created_at DROP DEFAULT,
    ALTER COLUMN last_seen_at DROP DEFAULT;
ALTER TABLE refresh_tokens
    ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE audit_log
    ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE api_tokens
    ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE items
    ALTER COLUMN created_at DROP DEFAULT,
    ALTER COLUMN updated_at DROP DEFAULT;
ALTER TABLE market_transactions
    ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE themes
    ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE habits
    ALTER COLUMN created_at DROP DEFAULT,
    ALTER COLUMN updated_at DROP DEFAULT;
ALTER TABLE habit_completions
    ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE tasks
    ALTER COLUMN created_at DROP DEFAULT,
    ALTER COLUMN updated_at DROP DEFAULT;
ALTER TABLE recovery_codes
    ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE mfa_challenges
    ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE email_outbox
    ALTER COLUMN created_at DROP DEFAULT,
    ALTER COLUMN next_attempt_at DROP DEFAULT;
ALTER TABLE account_tokens
    ALTER COLUMN created_at DROP DEFAULT;
