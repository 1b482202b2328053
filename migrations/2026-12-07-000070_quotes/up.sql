-- Quotes fetched from the provider (AGORA_QUOTES_URL) for quoteOfTheDay. A fetch upserts what it
-- got (a quote seen again only moves its fetched_at) and keeps the most recently fetched ones, so
-- the table stays small. The lengths bound the unique index's entries: 600 characters of at most
-- four bytes each fit in the 2704 bytes a B-tree entry may take.
CREATE TABLE quotes (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    text       TEXT        NOT NULL CHECK (char_length(text) BETWEEN 1 AND 500),
    author     TEXT        NOT NULL CHECK (char_length(author) BETWEEN 1 AND 100),
    fetched_at TIMESTAMPTZ NOT NULL,
    UNIQUE (text, author)
);

-- The lease that lets one instance of many fetch per interval: an instance fetches only after
-- moving last_attempt_at from more than an interval ago to its now, in one conditional UPDATE of
-- this one row (src/quotes/store.rs says why that is enough). NULL: never attempted.
CREATE TABLE quote_fetches (
    only_row        BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
    last_attempt_at TIMESTAMPTZ
);
INSERT INTO quote_fetches (last_attempt_at) VALUES (NULL);
