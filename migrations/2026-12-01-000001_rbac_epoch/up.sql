-- A counter that every change to roles, permissions or their grants moves on. Instances keep
-- each user's permission set in memory beside the counter it was read with, and every request
-- reads the counter with its session (one row, no joins): a change anywhere is seen by every
-- instance on its next request, while unchanged sets cost no statement.
CREATE TABLE rbac_epoch (
    only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
    epoch    BIGINT  NOT NULL
);
INSERT INTO rbac_epoch (epoch) VALUES (1);

CREATE FUNCTION bump_rbac_epoch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE rbac_epoch SET epoch = epoch + 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER roles_bump_rbac_epoch AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON roles
    FOR EACH STATEMENT EXECUTE FUNCTION bump_rbac_epoch();
CREATE TRIGGER permissions_bump_rbac_epoch AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON permissions
    FOR EACH STATEMENT EXECUTE FUNCTION bump_rbac_epoch();
CREATE TRIGGER role_permissions_bump_rbac_epoch AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON role_permissions
    FOR EACH STATEMENT EXECUTE FUNCTION bump_rbac_epoch();
CREATE TRIGGER user_roles_bump_rbac_epoch AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON user_roles
    FOR EACH STATEMENT EXECUTE FUNCTION bump_rbac_epoch();
