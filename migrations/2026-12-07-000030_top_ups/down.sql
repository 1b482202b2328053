DROP INDEX market_transactions_top_up;
DELETE FROM market_transactions WHERE kind = 'TOP_UP';
ALTER TABLE market_transactions DROP CONSTRAINT market_transactions_check;
ALTER TABLE market_transactions ADD CONSTRAINT market_transactions_check
    CHECK ((kind = 'PURCHASE' AND buyer_id IS NOT NULL) OR (kind = 'SALE' AND seller_id IS NOT NULL));
ALTER TABLE market_transactions DROP CONSTRAINT market_transactions_kind_check;
ALTER TABLE market_transactions ADD CONSTRAINT market_transactions_kind_check
    CHECK (kind IN ('PURCHASE', 'SALE'));
ALTER TABLE market_transactions DROP COLUMN top_up_id;
DROP TABLE stripe_events;
DROP TABLE top_ups;
