-- Sign-in with OpenID Connect providers.
--
-- An identity is one account at one provider (`provider` is the configured id, `subject` the
-- provider's `sub`); it signs in as exactly one user. Accounts made by a provider sign-in have
-- no password: their `password_hash` is '' (as a tombstone's), which no password matches.
CREATE TABLE user_identities (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider     TEXT        NOT NULL CHECK (char_length(provider) BETWEEN 1 AND 40),
    subject      TEXT        NOT NULL CHECK (char_length(subject) BETWEEN 1 AND 255),
    email        TEXT        CHECK (char_length(email) <= 254),
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX user_identities_provider_subject_key ON user_identities (provider, subject);
CREATE INDEX user_identities_user_id_idx ON user_identities (user_id);

-- A sign-in (or a link) begun at a provider and not finished yet. The state travels in the URL,
-- so only its digest is kept; the flow also belongs to the browser that began it (the digest of
-- its binding cookie), works once, and for ten minutes. `link_user_id` is set when a signed-in
-- user adds this provider to their account.
CREATE TABLE oidc_flows (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    state_hash    BYTEA       NOT NULL UNIQUE,
    browser_hash  BYTEA       NOT NULL,
    provider      TEXT        NOT NULL,
    nonce         TEXT        NOT NULL,
    pkce_verifier TEXT        NOT NULL,
    redirect_uri  TEXT        NOT NULL,
    return_to     TEXT        NOT NULL,
    link_user_id  BIGINT      REFERENCES users (id) ON DELETE CASCADE,
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL,
    used_at       TIMESTAMPTZ
);
CREATE INDEX oidc_flows_expires_at_idx ON oidc_flows (expires_at);

-- A provider identity whose verified address is an existing account's: never linked on its own.
-- The account's owner must prove the account (password, and the second factor when on) with the
-- link token, from the same browser, within ten minutes.
CREATE TABLE oidc_pending_links (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash   BYTEA       NOT NULL UNIQUE,
    browser_hash BYTEA       NOT NULL,
    user_id      BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider     TEXT        NOT NULL,
    subject      TEXT        NOT NULL,
    email        TEXT,
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    used_at      TIMESTAMPTZ
);
CREATE INDEX oidc_pending_links_expires_at_idx ON oidc_pending_links (expires_at);

-- What proved the account before the second factor: `verifyMfa` records it with the factor.
ALTER TABLE mfa_challenges ADD COLUMN first_factor TEXT NOT NULL DEFAULT 'password';
