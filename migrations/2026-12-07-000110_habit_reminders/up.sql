-- Reminders of a habit: local times of day, in the owner's zone, at most a few per habit (the
-- domain caps them). Each row carries its next occurrence to handle: `due_day`, a habit day of
-- the owner's, and `due_at`, the instant the reminder fires on it. The reminder job reads only
-- the rows whose `due_at` has come, through the index, however many habits and reminders there
-- are, and moves each forward once handled (src/reminders/mod.rs).
CREATE TABLE habit_reminders (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    habit_id   BIGINT      NOT NULL REFERENCES habits (id) ON DELETE CASCADE,
    local_time TIME        NOT NULL CHECK (extract(second FROM local_time) = 0),
    due_day    DATE        NOT NULL,
    due_at     TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (habit_id, local_time)
);
CREATE INDEX habit_reminders_due_at ON habit_reminders (due_at);

-- One row per reminder and habit day it went out for. The primary key is what sends a
-- reminder once per day across instances: the job inserts here (ON CONFLICT DO NOTHING) and
-- queues the mail only when the row is new, in one transaction.
CREATE TABLE habit_reminder_deliveries (
    reminder_id BIGINT      NOT NULL REFERENCES habit_reminders (id) ON DELETE CASCADE,
    habit_day   DATE        NOT NULL,
    sent_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (reminder_id, habit_day)
);
-- The cleanup job deletes old deliveries by their time.
CREATE INDEX habit_reminder_deliveries_sent_at ON habit_reminder_deliveries (sent_at);
