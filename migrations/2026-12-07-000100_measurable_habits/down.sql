ALTER TABLE habit_completions DROP COLUMN value;
ALTER TABLE habits DROP COLUMN measure;
