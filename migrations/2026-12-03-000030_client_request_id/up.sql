-- The x-request-id a client sent, kept apart from request_id (always the server's own), so a
-- client cannot choose the id its actions are recorded and logged under.
ALTER TABLE audit_log ADD COLUMN client_request_id text
    CHECK (char_length(client_request_id) <= 128);
