DROP TABLE webauthn_ceremonies;
DROP TABLE passkeys;
ALTER TABLE users DROP COLUMN webauthn_handle;
