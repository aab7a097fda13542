-- Whom each e-mail was sent to: the control API lists and clears one user's mail, and resetting one account
-- clears its mail and nobody else's.
ALTER TABLE outbox ADD COLUMN user_id TEXT;
ALTER TABLE outbox ADD COLUMN account_id TEXT;
CREATE INDEX outbox_user ON outbox(user_id);
