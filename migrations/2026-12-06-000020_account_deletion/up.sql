-- A deleted account stays as a tombstone: its row keeps its id (the ledger's buyer and seller
-- and the audit log's actor still name it) and its budget (the money the ledger says it holds),
-- and loses everything personal. `deleted_at` says when; a tombstone is never active again.
ALTER TABLE users ADD COLUMN deleted_at TIMESTAMPTZ;
ALTER TABLE users ADD CONSTRAINT users_deleted_inactive CHECK (deleted_at IS NULL OR NOT is_active);
