-- Recent authentication: when, and with which factors, a session's user last proved who they
-- are (at sign-in, or since with `reauthenticate`). Sensitive changes need a recent proof.
ALTER TABLE sessions ADD COLUMN proved_at TIMESTAMPTZ;
ALTER TABLE sessions ADD COLUMN proved_by TEXT[] NOT NULL DEFAULT '{}';
UPDATE sessions SET proved_at = created_at;
ALTER TABLE sessions ALTER COLUMN proved_at SET NOT NULL;
