-- An attempt is counted before it is checked; one that proves right (a second-factor code, a
-- live reset link) is handed back by its id.
ALTER TABLE rate_events ADD COLUMN id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY;

-- Wrong second-factor codes per account are counted in rate_events now, under its lock.
DROP TABLE mfa_failures;

-- A challenge counts every code checked against it, right or wrong, before the check.
ALTER TABLE mfa_challenges RENAME COLUMN failures TO attempts;
