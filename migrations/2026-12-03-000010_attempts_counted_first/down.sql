ALTER TABLE mfa_challenges RENAME COLUMN attempts TO failures;

CREATE TABLE mfa_failures (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id   BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    failed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX mfa_failures_user_time_idx ON mfa_failures (user_id, failed_at);
CREATE INDEX mfa_failures_failed_at_idx ON mfa_failures (failed_at);

ALTER TABLE rate_events DROP COLUMN id;
