-- Per (account, status, role) user counts, kept by the store's user writes (triggers would make every insert
-- pay for a statement journal), so `total_records` of GET /users costs one
-- indexed read instead of a scan that grows with the account.

CREATE TABLE user_counts (
    account_id  TEXT NOT NULL,
    status      TEXT NOT NULL,
    role        TEXT NOT NULL,
    n           INTEGER NOT NULL,
    PRIMARY KEY (account_id, status, role)
) WITHOUT ROWID;

INSERT INTO user_counts (account_id, status, role, n)
    SELECT account_id, status, role, COUNT(*) FROM users GROUP BY account_id, status, role;
