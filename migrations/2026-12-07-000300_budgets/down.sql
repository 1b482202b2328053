DELETE FROM permissions WHERE name = 'budgets:manage';
DROP TABLE request_budgets;
