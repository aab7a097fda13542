-- localzoom schema v1. Times are integer epoch milliseconds (UTC); ids are TEXT.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE accounts (
    id                        TEXT PRIMARY KEY,
    account_number            INTEGER NOT NULL,
    plan                      TEXT NOT NULL,
    owner_email               TEXT NOT NULL,
    managed_domain            TEXT,
    -- NULL: no cap on Basic users.
    max_basic_users           INTEGER,
    password_history_count    INTEGER NOT NULL DEFAULT 5,
    password_changes_per_day  INTEGER NOT NULL DEFAULT 5,
    security                  TEXT NOT NULL DEFAULT '{}',
    created_at                INTEGER NOT NULL
);

CREATE TABLE users (
    -- seq orders the list endpoint (keyset pagination): stable under concurrent inserts.
    seq                   INTEGER PRIMARY KEY AUTOINCREMENT,
    id                    TEXT NOT NULL UNIQUE,
    account_id            TEXT NOT NULL REFERENCES accounts(id),
    email                 TEXT NOT NULL,
    email_lower           TEXT NOT NULL UNIQUE,
    first_name            TEXT NOT NULL DEFAULT '',
    last_name             TEXT NOT NULL DEFAULT '',
    display_name          TEXT NOT NULL DEFAULT '',
    type                  INTEGER NOT NULL,
    role                  TEXT NOT NULL,
    status                TEXT NOT NULL,
    login_type            INTEGER NOT NULL,
    pmi                   INTEGER NOT NULL,
    use_pmi               INTEGER NOT NULL DEFAULT 0,
    timezone              TEXT NOT NULL DEFAULT '',
    dept                  TEXT NOT NULL DEFAULT '',
    language              TEXT NOT NULL DEFAULT 'en-US',
    verified              INTEGER NOT NULL DEFAULT 0,
    is_zoom_room          INTEGER NOT NULL DEFAULT 0,
    upcoming_zoom_events  INTEGER NOT NULL DEFAULT 0,
    password_hash         TEXT,
    profile               TEXT NOT NULL DEFAULT '{}',
    created_at            INTEGER NOT NULL,
    last_login_time       INTEGER
);
CREATE INDEX users_account_status_seq ON users(account_id, status, seq);

CREATE TABLE apps (
    client_id           TEXT PRIMARY KEY,
    client_secret_sha256 BLOB NOT NULL,
    account_id          TEXT NOT NULL REFERENCES accounts(id),
    owner_user_id       TEXT NOT NULL,
    kind                TEXT NOT NULL,
    scopes              TEXT NOT NULL,
    active              INTEGER NOT NULL DEFAULT 1,
    created_at          INTEGER NOT NULL
);

CREATE TABLE access_tokens (
    token_sha256  BLOB PRIMARY KEY,
    client_id     TEXT NOT NULL REFERENCES apps(client_id),
    account_id    TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    scopes        TEXT NOT NULL,
    issued_at     INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    revoked       INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX access_tokens_user ON access_tokens(user_id);

CREATE TABLE sessions (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    login_type  INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    ended_at    INTEGER
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE assistants (
    user_id                        TEXT NOT NULL,
    assistant_id                   TEXT NOT NULL,
    can_manage_host_private_event  INTEGER NOT NULL DEFAULT 0,
    added_at                       INTEGER NOT NULL,
    PRIMARY KEY (user_id, assistant_id)
) WITHOUT ROWID;
CREATE INDEX assistants_reverse ON assistants(assistant_id);

CREATE TABLE password_history (
    user_id      TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    changed_at   INTEGER NOT NULL
);
CREATE INDEX password_history_user ON password_history(user_id, changed_at);

CREATE TABLE outbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    to_address  TEXT NOT NULL,
    subject     TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
