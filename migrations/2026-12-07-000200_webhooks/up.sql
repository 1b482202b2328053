-- Outbound webhooks. An endpoint is a URL administrators register for some event types, with
-- its signing secret sealed under a key derived from AGORA_SECRET (the server signs every
-- attempt with it, so it cannot be stored hashed). `failure_streak` counts the endpoint's
-- failed attempts since its last success, across its deliveries; reaching the configured
-- limit pauses it (`paused_at`), and no attempt goes out until an administrator resumes it.
CREATE TABLE webhook_endpoints (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    url            TEXT        NOT NULL CHECK (char_length(url) BETWEEN 1 AND 2000),
    description    TEXT        NOT NULL,
    events         TEXT[]      NOT NULL CHECK (cardinality(events) > 0),
    sealed_secret  BYTEA       NOT NULL,
    failure_streak INTEGER     NOT NULL CHECK (failure_streak >= 0),
    paused_at      TIMESTAMPTZ,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL
);

-- The durable queue: one row per event and subscribed endpoint, inserted in the transaction
-- of the change the event tells of (so a change rolled back queues nothing). Workers of every
-- instance claim due PENDING rows with SKIP LOCKED, pushing `next_attempt_at` forward by a
-- lease in the same statement, so a row is attempted by one worker at a time; a worker that
-- dies mid-attempt leaves it to be tried again when the lease ends. `payload` is the exact
-- body signed and sent, the same on every attempt. A row that failed the configured number of
-- attempts is DEAD (the dead-letter list) until redelivered.
CREATE TABLE webhook_deliveries (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id     BIGINT      NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id        TEXT        NOT NULL,
    event_type      TEXT        NOT NULL,
    payload         TEXT        NOT NULL,
    state           TEXT        NOT NULL CHECK (state IN ('PENDING', 'DELIVERED', 'DEAD')),
    attempts        INTEGER     NOT NULL CHECK (attempts >= 0),
    next_attempt_at TIMESTAMPTZ NOT NULL,
    last_attempt_at TIMESTAMPTZ,
    last_status     INTEGER,
    last_error      TEXT,
    delivered_at    TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL,
    CHECK ((state = 'DELIVERED') = (delivered_at IS NOT NULL))
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'PENDING';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);
CREATE INDEX webhook_deliveries_state ON webhook_deliveries (state, id);

-- A seed row is made when the migration runs: no app clock exists here.
INSERT INTO permissions (name, description, is_system, created_at) VALUES
    ('webhooks:manage', 'Register webhook endpoints, read their deliveries and redeliver them', TRUE, now());
INSERT INTO role_permissions (role_id, permission_id)
SELECT r.id, p.id FROM roles r JOIN permissions p ON p.name = 'webhooks:manage'
WHERE r.name = 'admin';
