-- The cleanup deletes deliveries delivered more than 30 days ago, oldest first: read by the
-- delivery time, not by a scan of the whole queue. Only delivered rows have one.
CREATE INDEX webhook_deliveries_delivered_at ON webhook_deliveries (delivered_at)
    WHERE delivered_at IS NOT NULL;
