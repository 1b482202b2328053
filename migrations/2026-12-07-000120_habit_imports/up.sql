-- Which of a user's habits an import made, by what the import file calls it ("loop:Walk"), so
-- importing the same file again finds the habit rather than making a second one. Deleting the
-- habit forgets it: the next import makes it anew.
CREATE TABLE habit_imports (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    source TEXT NOT NULL CHECK (char_length(source) <= 200),
    habit_id BIGINT NOT NULL REFERENCES habits (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, source)
);
CREATE INDEX habit_imports_habit ON habit_imports (habit_id);
