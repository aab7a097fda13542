-- The password a user was created with is history (it may not be reused) but not a change (it does not count
-- against the daily cap). Expired access tokens are purged by expiry, which wants an index.
ALTER TABLE password_history ADD COLUMN initial INTEGER NOT NULL DEFAULT 0;
CREATE INDEX access_tokens_expiry ON access_tokens(expires_at);
