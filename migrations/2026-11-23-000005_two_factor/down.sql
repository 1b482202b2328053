DROP TABLE mfa_failures;
DROP TABLE mfa_challenges;
DROP TABLE recovery_codes;
DROP TABLE two_factor;
