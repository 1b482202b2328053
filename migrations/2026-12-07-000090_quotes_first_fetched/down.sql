ALTER TABLE quotes DROP COLUMN first_fetched_at;
