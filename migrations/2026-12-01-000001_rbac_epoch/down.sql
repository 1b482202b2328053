DROP TRIGGER user_roles_bump_rbac_epoch ON user_roles;
DROP TRIGGER role_permissions_bump_rbac_epoch ON role_permissions;
DROP TRIGGER permissions_bump_rbac_epoch ON permissions;
DROP TRIGGER roles_bump_rbac_epoch ON roles;
DROP FUNCTION bump_rbac_epoch();
DROP TABLE rbac_epoch;
