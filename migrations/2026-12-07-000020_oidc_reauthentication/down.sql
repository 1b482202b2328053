ALTER TABLE oidc_flows
    DROP COLUMN reauth_second_factor,
    DROP COLUMN reauth_session_id;
