-- Request budgets: per role and per API token, ceilings under the server's own limits. A NULL
-- column leaves that limit at the server's default. A row belongs to a role or to a token.
CREATE TABLE request_budgets (
    id                   BIGSERIAL PRIMARY KEY,
    -- Plain UNIQUE (NULLs are distinct), so `ON CONFLICT (role_id)` finds the index.
    role_id              BIGINT UNIQUE REFERENCES roles (id) ON DELETE CASCADE,
    api_token_id         BIGINT UNIQUE REFERENCES api_tokens (id) ON DELETE CASCADE,
    requests_per_minute  INTEGER CHECK (requests_per_minute BETWEEN 1 AND 60000),
    max_complexity       INTEGER CHECK (max_complexity > 0),
    max_depth            INTEGER CHECK (max_depth > 0),
    statement_timeout_ms INTEGER CHECK (statement_timeout_ms >= 10),
    updated_at           TIMESTAMPTZ NOT NULL,
    CHECK ((role_id IS NULL) <> (api_token_id IS NULL))
);

-- A role's budget is kept in memory with its holders' permission sets, labelled with the RBAC
-- epoch: changing one moves the epoch on, so every instance reads it again on the next request.
-- A token's budget is read with the token on every request, so it moves nothing.
CREATE TRIGGER request_budgets_insert_bump_rbac_epoch AFTER INSERT ON request_budgets
    FOR EACH ROW WHEN (NEW.role_id IS NOT NULL) EXECUTE FUNCTION bump_rbac_epoch();
CREATE TRIGGER request_budgets_change_bump_rbac_epoch AFTER UPDATE OR DELETE ON request_budgets
    FOR EACH ROW WHEN (OLD.role_id IS NOT NULL) EXECUTE FUNCTION bump_rbac_epoch();

-- A seed row is made when the migration runs: no app clock exists here.
INSERT INTO permissions (name, description, is_system, created_at) VALUES
    ('budgets:manage', 'Set the request budgets of roles and API tokens', TRUE, now());
INSERT INTO role_permissions (role_id, permission_id)
SELECT r.id, p.id FROM roles r JOIN permissions p ON p.name = 'budgets:manage'
WHERE r.name = 'admin';
