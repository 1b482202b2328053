DROP TABLE quote_fetches;
DROP TABLE quotes;
