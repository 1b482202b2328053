-- TOTP second factor. Secrets are sealed (XChaCha20-Poly1305, key derived from AGORA_SECRET);
-- last_step is the newest time step accepted, so no code works twice.
CREATE TABLE two_factor (
    user_id            BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret             BYTEA,
    enabled_at         TIMESTAMPTZ,
    last_step          BIGINT,
    pending_secret     BYTEA,
    pending_expires_at TIMESTAMPTZ,
    CHECK ((secret IS NULL) = (enabled_at IS NULL)),
    CHECK ((pending_secret IS NULL) = (pending_expires_at IS NULL))
);

-- Single-use codes for a lost device, stored as keyed hashes.
CREATE TABLE recovery_codes (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  BYTEA       NOT NULL,
    used_at    TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (user_id, code_hash)
);

-- What a password login with 2FA on hands out instead of a session.
CREATE TABLE mfa_challenges (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash BYTEA       NOT NULL UNIQUE,
    expires_at TIMESTAMPTZ NOT NULL,
    failures   INT         NOT NULL DEFAULT 0,
    used_at    TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX mfa_challenges_user_id_idx ON mfa_challenges (user_id);

-- Wrong second-factor codes, for the per-account limit.
CREATE TABLE mfa_failures (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id   BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    failed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX mfa_failures_user_time_idx ON mfa_failures (user_id, failed_at);
