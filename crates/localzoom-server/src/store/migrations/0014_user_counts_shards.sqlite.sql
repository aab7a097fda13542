-- Each (account, status, role) count is spread over shards (`shard`, from the user's id): writes that move users of
-- one account between counts on different PostgreSQL writers or nodes update different rows, so they do not wait
-- for each other's commits on one hot row. A count is the sum of its shards. The rows so far become shard 0.
CREATE TABLE user_counts_sharded (
    account_id  TEXT NOT NULL,
    status      TEXT NOT NULL,
    role        TEXT NOT NULL,
    shard       INTEGER NOT NULL,
    n           INTEGER NOT NULL,
    PRIMARY KEY (account_id, status, role, shard)
) WITHOUT ROWID;
INSERT INTO user_counts_sharded (account_id, status, role, shard, n)
    SELECT account_id, status, role, 0, n FROM user_counts;
DROP TABLE user_counts;
ALTER TABLE user_counts_sharded RENAME TO user_counts;
