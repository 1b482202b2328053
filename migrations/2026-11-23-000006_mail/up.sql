-- Mail is written here in the transaction of the change that causes it, and sent by a worker:
-- a claimed row carries a lease (next_attempt_at) so a crash mid-send only delays it.
CREATE TABLE email_outbox (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            TEXT        NOT NULL,
    recipient       TEXT        NOT NULL,
    subject         TEXT        NOT NULL,
    text_body       TEXT        NOT NULL,
    html_body       TEXT        NOT NULL,
    attempts        INT         NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_error      TEXT,
    sent_at         TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX email_outbox_due_idx ON email_outbox (next_attempt_at) WHERE sent_at IS NULL;

-- Links sent by mail: password reset and email verification. Stored as SHA-256 of the token;
-- purpose-bound, single use, expiring.
CREATE TABLE account_tokens (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT        NOT NULL CHECK (purpose IN ('PASSWORD_RESET', 'EMAIL_VERIFY')),
    token_hash BYTEA       NOT NULL UNIQUE,
    email      TEXT        NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX account_tokens_user_idx ON account_tokens (user_id, purpose, created_at);

-- Counted attempts for limits that must hold across instances and restarts.
CREATE TABLE rate_events (
    bucket TEXT        NOT NULL,
    key    TEXT        NOT NULL,
    at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX rate_events_key_idx ON rate_events (bucket, key, at);

ALTER TABLE users ADD COLUMN email_verified_at TIMESTAMPTZ;
