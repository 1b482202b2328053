ALTER TABLE users DROP COLUMN day_start_minutes;
