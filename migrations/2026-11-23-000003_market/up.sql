-- Items on the market (owner_id IS NULL) or held by a user, and the ledger of every budget change.
CREATE TABLE items (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        TEXT        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 50),
    price       BIGINT      NOT NULL CHECK (price > 0),
    barcode     TEXT        NOT NULL CHECK (barcode ~ '^[0-9]{12}$'),
    description TEXT        NOT NULL DEFAULT '' CHECK (char_length(description) <= 1024),
    owner_id    BIGINT      REFERENCES users (id),
    created_by  BIGINT      REFERENCES users (id) ON DELETE SET NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX items_name_lower_key ON items (lower(name));
CREATE UNIQUE INDEX items_barcode_key ON items (barcode);
CREATE INDEX items_owner_id_idx ON items (owner_id, id);
CREATE INDEX items_on_market_idx ON items (id) WHERE owner_id IS NULL;

-- One row per budget change: a PURCHASE debits the buyer, a SALE credits the seller.
-- balance_after is the user's budget right after the change, so a repeated idempotent
-- purchase can answer exactly what the first one did.
CREATE TABLE market_transactions (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    item_id         BIGINT      REFERENCES items (id) ON DELETE SET NULL,
    buyer_id        BIGINT      REFERENCES users (id),
    seller_id       BIGINT      REFERENCES users (id),
    amount          BIGINT      NOT NULL CHECK (amount > 0),
    kind            TEXT        NOT NULL CHECK (kind IN ('PURCHASE', 'SALE')),
    balance_after   BIGINT      NOT NULL CHECK (balance_after >= 0),
    idempotency_key TEXT        CHECK (char_length(idempotency_key) BETWEEN 1 AND 100),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK ((kind = 'PURCHASE' AND buyer_id IS NOT NULL) OR (kind = 'SALE' AND seller_id IS NOT NULL))
);
CREATE UNIQUE INDEX market_transactions_idempotency_key ON market_transactions (buyer_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX market_transactions_buyer_idx ON market_transactions (buyer_id, id);
CREATE INDEX market_transactions_seller_idx ON market_transactions (seller_id, id);

INSERT INTO permissions (name, description, is_system) VALUES
    ('market:trade', 'Browse the market, buy and sell items', TRUE),
    ('items:manage', 'Create, change and delete items, and see every item', TRUE);

INSERT INTO role_permissions (role_id, permission_id)
SELECT r.id, p.id FROM roles r JOIN permissions p ON p.name = 'market:trade'
WHERE r.name IN ('admin', 'user');

INSERT INTO role_permissions (role_id, permission_id)
SELECT r.id, p.id FROM roles r JOIN permissions p ON p.name = 'items:manage'
WHERE r.name = 'admin';
