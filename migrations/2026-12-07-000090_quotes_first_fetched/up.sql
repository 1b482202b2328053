-- When each quote was first stored: a user's quote of the day is picked among the quotes stored
-- before their day began, so a fetch during the day cannot change it.
ALTER TABLE quotes ADD COLUMN first_fetched_at TIMESTAMPTZ;
UPDATE quotes SET first_fetched_at = fetched_at;
ALTER TABLE quotes ALTER COLUMN first_fetched_at SET NOT NULL;
