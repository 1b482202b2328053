DELETE FROM permissions WHERE name = 'payments:manage';
DROP INDEX market_transactions_top_up;
DELETE FROM market_transactions WHERE kind = 'REFUND';
CREATE UNIQUE INDEX market_transactions_top_up ON market_transactions (top_up_id)
    WHERE top_up_id IS NOT NULL;
ALTER TABLE market_transactions DROP CONSTRAINT market_transactions_check;
ALTER TABLE market_transactions ADD CONSTRAINT market_transactions_check
    CHECK ((kind = 'PURCHASE' AND buyer_id IS NOT NULL)
        OR (kind = 'SALE' AND seller_id IS NOT NULL)
        OR (kind = 'TOP_UP' AND seller_id IS NOT NULL AND top_up_id IS NOT NULL));
ALTER TABLE market_transactions DROP CONSTRAINT market_transactions_kind_check;
ALTER TABLE market_transactions ADD CONSTRAINT market_transactions_kind_check
    CHECK (kind IN ('PURCHASE', 'SALE', 'TOP_UP'));
ALTER TABLE market_transactions DROP COLUMN top_up_refund_id;
DROP TABLE top_up_refunds;
ALTER TABLE top_ups DROP CONSTRAINT top_ups_refunds_within;
ALTER TABLE top_ups DROP COLUMN refunded_units;
ALTER TABLE top_ups DROP COLUMN refunded_amount;
