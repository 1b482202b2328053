-- Budget bought with money through Stripe. A top-up row comes first, then its PaymentIntent:
-- a retry with the same idempotency key finds the row and asks Stripe again with the same key.
CREATE TABLE top_ups (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id           BIGINT      NOT NULL REFERENCES users (id),
    units             BIGINT      NOT NULL CHECK (units > 0),
    amount            BIGINT      NOT NULL CHECK (amount > 0),
    currency          TEXT        NOT NULL CHECK (currency ~ '^[a-z]{3}$'),
    idempotency_key   TEXT        NOT NULL CHECK (char_length(idempotency_key) BETWEEN 1 AND 100),
    payment_intent_id TEXT        UNIQUE,
    client_secret     TEXT,
    state             TEXT        NOT NULL CHECK (state IN ('PENDING', 'SUCCEEDED', 'FAILED')),
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    credited_at       TIMESTAMPTZ,
    UNIQUE (user_id, idempotency_key),
    CHECK ((state = 'SUCCEEDED') = (credited_at IS NOT NULL))
);
CREATE INDEX top_ups_user ON top_ups (user_id, id);

-- Stripe events already acted on: a delivery of one of these again changes nothing.
CREATE TABLE stripe_events (
    id          TEXT        PRIMARY KEY,
    type        TEXT        NOT NULL,
    received_at TIMESTAMPTZ NOT NULL
);

-- A top-up's credit is a ledger row of its own kind, naming the top-up (at most one each).
ALTER TABLE market_transactions ADD COLUMN top_up_id BIGINT REFERENCES top_ups (id);
ALTER TABLE market_transactions DROP CONSTRAINT market_transactions_kind_check;
ALTER TABLE market_transactions ADD CONSTRAINT market_transactions_kind_check
    CHECK (kind IN ('PURCHASE', 'SALE', 'TOP_UP'));
ALTER TABLE market_transactions DROP CONSTRAINT market_transactions_check;
ALTER TABLE market_transactions ADD CONSTRAINT market_transactions_check
    CHECK ((kind = 'PURCHASE' AND buyer_id IS NOT NULL)
        OR (kind = 'SALE' AND seller_id IS NOT NULL)
        OR (kind = 'TOP_UP' AND seller_id IS NOT NULL AND top_up_id IS NOT NULL));
CREATE UNIQUE INDEX market_transactions_top_up ON market_transactions (top_up_id)
    WHERE top_up_id IS NOT NULL;
