DROP TABLE market_events;
