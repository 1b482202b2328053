-- A passkey may answer a sign-in's second-factor challenge: a ceremony of its own kind.
ALTER TABLE webauthn_ceremonies DROP CONSTRAINT webauthn_ceremonies_kind_check;
ALTER TABLE webauthn_ceremonies ADD CONSTRAINT webauthn_ceremonies_kind_check
    CHECK (kind IN ('register', 'sign_in', 'second_factor'));
