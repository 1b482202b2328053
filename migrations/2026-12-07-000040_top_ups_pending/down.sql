DROP INDEX top_ups_pending;
