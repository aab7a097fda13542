-- SCIM lists an account's users of every status in `seq` order (`startIndex`/`count`): an index that serves it
-- without sorting the account.
CREATE INDEX IF NOT EXISTS users_account_seq ON users (account_id, seq);
