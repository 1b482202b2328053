-- With trusted documents on (AGORA_TRUSTED_DOCUMENTS), only the manifest's documents run, but for
-- holders of this permission: administrators exploring in GraphiQL or writing a new script.
INSERT INTO permissions (name, description, is_system, created_at) VALUES
    ('documents:any', 'Send documents outside the trusted-documents manifest', TRUE, now());

INSERT INTO role_permissions (role_id, permission_id)
SELECT r.id, p.id FROM roles r JOIN permissions p ON p.name = 'documents:any'
WHERE r.name = 'admin';
