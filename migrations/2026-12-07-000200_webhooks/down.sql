DELETE FROM permissions WHERE name = 'webhooks:manage';
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
