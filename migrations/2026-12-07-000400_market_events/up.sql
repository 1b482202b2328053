-- Market events kept in order, so a subscriber that reconnects with the cursor of the last event
-- it saw receives what it missed. Each row is written in the transaction of the change, with the
-- item as it is after it.
--
-- Ids alone cannot order them for a reader: a transaction that took id 10 may commit after one
-- that took id 11, and a reader that had already passed 11 would never see 10. The position is
-- (tx, id), where tx is the writing transaction's id: every transaction still running, and every
-- one yet to start, has a tx at or above the oldest running one (pg_snapshot_xmin), so the rows
-- below that bound form a prefix that can only grow at its end.
CREATE TABLE market_events (
    id BIGSERIAL PRIMARY KEY,
    tx BIGINT NOT NULL DEFAULT pg_current_xact_id()::text::bigint,
    kind TEXT NOT NULL CHECK (kind IN ('LISTED', 'PURCHASED', 'SOLD')),
    item JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX market_events_position ON market_events (tx, id);
CREATE INDEX market_events_created_at ON market_events (created_at);
