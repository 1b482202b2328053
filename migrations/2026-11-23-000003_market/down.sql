DELETE FROM permissions WHERE name IN ('market:trade', 'items:manage');
DROP TABLE market_transactions;
DROP TABLE items;
