-- The reconciliation job reads pending top-ups every minute: only those, oldest first.
CREATE INDEX top_ups_pending ON top_ups (created_at) WHERE state = 'PENDING';
