-- Passkeys (WebAuthn). A user's WebAuthn handle is random, not their id: authenticators keep it,
-- and it says nothing about the account. `passkey` is webauthn-rs's credential (public key,
-- counter, flags); the counter and backup flags are also columns, for listing and for the
-- regression check under a row lock. A credential whose counter went backwards is marked
-- `possibly_cloned_at` and refused from then on.
ALTER TABLE users ADD COLUMN webauthn_handle TEXT UNIQUE;

CREATE TABLE passkeys (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id            BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id      BYTEA       NOT NULL UNIQUE,
    passkey            JSONB       NOT NULL,
    name               TEXT        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    counter            BIGINT      NOT NULL,
    backup_eligible    BOOLEAN     NOT NULL,
    backup_state       BOOLEAN     NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL,
    last_used_at       TIMESTAMPTZ,
    possibly_cloned_at TIMESTAMPTZ
);
CREATE INDEX passkeys_user_id_idx ON passkeys (user_id);

-- A ceremony begun and not finished: its state (the challenge), single use, a few minutes.
CREATE TABLE webauthn_ceremonies (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash BYTEA       NOT NULL UNIQUE,
    kind       TEXT        NOT NULL CHECK (kind IN ('register', 'sign_in')),
    user_id    BIGINT      REFERENCES users (id) ON DELETE CASCADE,
    state      JSONB       NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX webauthn_ceremonies_expires_at_idx ON webauthn_ceremonies (expires_at);
