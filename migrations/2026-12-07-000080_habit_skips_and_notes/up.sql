-- A day of a habit is done, or skipped (sick, travel): a skip neither breaks nor extends a
-- streak and leaves the day out of rates. Either may carry a note. A habit may cap its skips
-- per calendar month.
ALTER TABLE habit_completions ADD COLUMN skipped BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE habit_completions ADD COLUMN note TEXT NOT NULL DEFAULT ''
    CHECK (char_length(note) <= 1000);
ALTER TABLE habits ADD COLUMN skips_per_month INT CHECK (skips_per_month BETWEEN 0 AND 31);
