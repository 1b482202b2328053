ALTER TABLE users
    ALTER COLUMN created_at SET DEFAULT now(),
    ALTER COLUMN updated_at SET DEFAULT now();
ALTER TABLE roles
    ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE permissions
    ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE user_roles
    ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE sessions
    ALTER COLUMN created_at SET DEFAULT now(),
    ALTER COLUMN last_seen_at SET DEFAULT now();
ALTER TABLE refresh_tokens
    ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE audit_log
    ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE api_tokens
    ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE items
    ALTER COLUMN created_at SET DEFAULT now(),
    ALTER COLUMN updated_at SET DEFAULT now();
ALTER TABLE market_transactions
    ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE themes
    ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE habits
    ALTER COLUMN created_at SET DEFAULT now(),
    ALTER COLUMN updated_at SET DEFAULT now();
ALTER TABLE habit_completions
    ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE tasks
    ALTER COLUMN created_at SET DEFAULT now(),
    ALTER COLUMN updated_at SET DEFAULT now();
ALTER TABLE recovery_codes
    ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE mfa_challenges
    ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE email_outbox
    ALTER COLUMN created_at SET DEFAULT now(),
    ALTER COLUMN next_attempt_at SET DEFAULT now();
ALTER TABLE account_tokens
    ALTER COLUMN created_at SET DEFAULT now();
