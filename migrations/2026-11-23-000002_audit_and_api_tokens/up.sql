-- Who did what from where. Rows are written in the transaction of the change they describe and
-- never edited; actor_id survives as NULL if an account row ever goes away.
CREATE TABLE audit_log (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor_id    BIGINT      REFERENCES users (id) ON DELETE SET NULL,
    action      TEXT        NOT NULL CHECK (action ~ '^[a-z_]+\.[a-z_]+$'),
    target_type TEXT,
    target_id   BIGINT,
    metadata    JSONB       NOT NULL DEFAULT '{}',
    ip          INET,
    user_agent  TEXT        CHECK (char_length(user_agent) <= 512),
    request_id  TEXT,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_actor_id_idx ON audit_log (actor_id, id);
CREATE INDEX audit_log_action_idx ON audit_log (action, id);
CREATE INDEX audit_log_created_at_idx ON audit_log (created_at);

-- Personal access tokens for scripts: only the SHA-256 digest is kept.
CREATE TABLE api_tokens (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    token_hash   BYTEA       NOT NULL UNIQUE,
    permissions  TEXT[]      NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at   TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);
CREATE INDEX api_tokens_user_id_idx ON api_tokens (user_id);

INSERT INTO permissions (name, description, is_system) VALUES
    ('api_tokens:manage', 'Create, list and revoke one''s own API tokens', TRUE);

INSERT INTO role_permissions (role_id, permission_id)
SELECT r.id, p.id FROM roles r JOIN permissions p ON p.name = 'api_tokens:manage'
WHERE r.name IN ('admin', 'user');
