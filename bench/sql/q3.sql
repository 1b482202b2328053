SELECT i.id, i.name, i.price, u.username FROM items i JOIN users u ON u.id = i.owner_id ORDER BY i.id LIMIT 50;
