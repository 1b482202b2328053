-- Money given back for a top-up, told by Stripe (charge.refunded) or asked by an administrator
-- (refundTopUp). A refund takes back the budget units it paid for as far as they are unspent;
-- units already spent are its shortfall, flagged for an administrator until one reviews it.
-- The top-up keeps the totals, so a refund told twice, or told after it was recorded, takes
-- back only what Stripe's running total has not yet covered.
ALTER TABLE top_ups ADD COLUMN refunded_amount BIGINT NOT NULL DEFAULT 0;
ALTER TABLE top_ups ADD COLUMN refunded_units BIGINT NOT NULL DEFAULT 0;
ALTER TABLE top_ups ADD CONSTRAINT top_ups_refunds_within
    CHECK (refunded_amount BETWEEN 0 AND amount AND refunded_units BETWEEN 0 AND units
           AND (refunded_amount = 0 OR state = 'SUCCEEDED'));

CREATE TABLE top_up_refunds (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    top_up_id     BIGINT      NOT NULL REFERENCES top_ups (id),
    amount        BIGINT      NOT NULL CHECK (amount > 0),
    units         BIGINT      NOT NULL CHECK (units >= 0),
    debited_units BIGINT      NOT NULL CHECK (debited_units >= 0),
    source        TEXT        NOT NULL CHECK (source IN ('STRIPE', 'ADMIN')),
    -- The Stripe event or refund that told of it.
    stripe_ref    TEXT        NOT NULL,
    requested_by  BIGINT      REFERENCES users (id),
    created_at    TIMESTAMPTZ NOT NULL,
    reviewed_at   TIMESTAMPTZ,
    reviewed_by   BIGINT      REFERENCES users (id),
    CHECK (debited_units <= units),
    CHECK (reviewed_at IS NULL OR debited_units < units)
);
CREATE INDEX top_up_refunds_top_up ON top_up_refunds (top_up_id);
CREATE INDEX top_up_refunds_flagged ON top_up_refunds (id)
    WHERE debited_units < units AND reviewed_at IS NULL;

-- What a refund took back is a ledger row of its own kind, naming the refund.
ALTER TABLE market_transactions ADD COLUMN top_up_refund_id BIGINT UNIQUE REFERENCES top_up_refunds (id);
ALTER TABLE market_transactions DROP CONSTRAINT market_transactions_kind_check;
ALTER TABLE market_transactions ADD CONSTRAINT market_transactions_kind_check
    CHECK (kind IN ('PURCHASE', 'SALE', 'TOP_UP', 'REFUND'));
ALTER TABLE market_transactions DROP CONSTRAINT market_transactions_check;
ALTER TABLE market_transactions ADD CONSTRAINT market_transactions_check
    CHECK ((kind = 'PURCHASE' AND buyer_id IS NOT NULL)
        OR (kind = 'SALE' AND seller_id IS NOT NULL)
        OR (kind = 'TOP_UP' AND seller_id IS NOT NULL AND top_up_id IS NOT NULL)
        OR (kind = 'REFUND' AND buyer_id IS NOT NULL AND top_up_id IS NOT NULL
            AND top_up_refund_id IS NOT NULL));
DROP INDEX market_transactions_top_up;
CREATE UNIQUE INDEX market_transactions_top_up ON market_transactions (top_up_id)
    WHERE kind = 'TOP_UP';

-- A seed row is made when the migration runs: no app clock exists here.
INSERT INTO permissions (name, description, is_system, created_at) VALUES
    ('payments:manage', 'Refund top-ups and review refunds that found the budget spent', TRUE, now());
INSERT INTO role_permissions (role_id, permission_id)
SELECT r.id, p.id FROM roles r JOIN permissions p ON p.name = 'payments:manage'
WHERE r.name = 'admin';
