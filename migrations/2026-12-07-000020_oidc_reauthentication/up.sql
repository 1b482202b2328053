-- A provider flow may re-authenticate a signed-in session: it names the session, and the
-- second factor already checked when it began (while 2FA is on).
ALTER TABLE oidc_flows
    ADD COLUMN reauth_session_id BIGINT REFERENCES sessions (id) ON DELETE CASCADE,
    ADD COLUMN reauth_second_factor TEXT,
    ADD CONSTRAINT oidc_flows_reauth_of_a_user
        CHECK (reauth_session_id IS NULL OR link_user_id IS NOT NULL);
-- Deleting sessions (cleanup, erasure) finds the flows that name them through this.
CREATE INDEX oidc_flows_reauth_session ON oidc_flows (reauth_session_id)
    WHERE reauth_session_id IS NOT NULL;
