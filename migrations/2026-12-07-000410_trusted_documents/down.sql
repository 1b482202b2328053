DELETE FROM permissions WHERE name = 'documents:any';
