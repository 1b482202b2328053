DELETE FROM webauthn_ceremonies WHERE kind = 'second_factor';
ALTER TABLE webauthn_ceremonies DROP CONSTRAINT webauthn_ceremonies_kind_check;
ALTER TABLE webauthn_ceremonies ADD CONSTRAINT webauthn_ceremonies_kind_check
    CHECK (kind IN ('register', 'sign_in'));
