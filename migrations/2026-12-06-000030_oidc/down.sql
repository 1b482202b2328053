ALTER TABLE mfa_challenges DROP COLUMN first_factor;
DROP TABLE oidc_pending_links;
DROP TABLE oidc_flows;
DROP TABLE user_identities;
