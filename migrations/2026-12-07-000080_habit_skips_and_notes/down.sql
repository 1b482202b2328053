ALTER TABLE habits DROP COLUMN skips_per_month;
DELETE FROM habit_completions WHERE skipped;
ALTER TABLE habit_completions DROP COLUMN note;
ALTER TABLE habit_completions DROP COLUMN skipped;
