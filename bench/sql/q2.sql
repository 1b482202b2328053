SELECT id, name, price, barcode FROM items WHERE owner_id IS NULL ORDER BY id LIMIT 50;
