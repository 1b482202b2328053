-- A mail's bodies hold what it was sent for, reset and verification links with their tokens in
-- plain text among them. Only an unsent row keeps them, to send or retry; once delivered, the row
-- keeps its recipient, kind, subject, attempts and times for operators, and the bodies go.
ALTER TABLE email_outbox
    ALTER COLUMN text_body DROP NOT NULL,
    ALTER COLUMN html_body DROP NOT NULL;
UPDATE email_outbox SET text_body = NULL, html_body = NULL WHERE sent_at IS NOT NULL;
ALTER TABLE email_outbox ADD CONSTRAINT email_outbox_bodies_until_sent CHECK (
    (sent_at IS NULL AND text_body IS NOT NULL AND html_body IS NOT NULL)
    OR (sent_at IS NOT NULL AND text_body IS NULL AND html_body IS NULL)
);
