-- The bodies of delivered mail are gone for good; they come back empty.
ALTER TABLE email_outbox DROP CONSTRAINT email_outbox_bodies_until_sent;
UPDATE email_outbox SET text_body = '', html_body = '' WHERE sent_at IS NOT NULL;
ALTER TABLE email_outbox
    ALTER COLUMN text_body SET NOT NULL,
    ALTER COLUMN html_body SET NOT NULL;
