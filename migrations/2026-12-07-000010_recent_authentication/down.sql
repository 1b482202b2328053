ALTER TABLE sessions DROP COLUMN proved_by;
ALTER TABLE sessions DROP COLUMN proved_at;
