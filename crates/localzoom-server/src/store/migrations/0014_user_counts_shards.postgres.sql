-- Each (account, status, role) count is spread over shards (`shard`, from the user's id): writes that move users of
-- one account between counts on different writers or nodes update different rows, so they do not wait for each
-- other's commits on one hot row. A count is the sum of its shards. The rows so far become shard 0.
ALTER TABLE user_counts ADD COLUMN shard INTEGER NOT NULL DEFAULT 0;
ALTER TABLE user_counts DROP CONSTRAINT user_counts_pkey;
ALTER TABLE user_counts ADD PRIMARY KEY (account_id, status, role, shard);
ALTER TABLE user_counts ALTER COLUMN shard DROP DEFAULT;
