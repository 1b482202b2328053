-- When each user's day begins, in minutes after local midnight (00:00 to 12:00): "today",
-- due-today, streaks and statistics follow it (src/dates.rs, UserDays).
ALTER TABLE users ADD COLUMN day_start_minutes INT NOT NULL DEFAULT 0
    CHECK (day_start_minutes BETWEEN 0 AND 720);
