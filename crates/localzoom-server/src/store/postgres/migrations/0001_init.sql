-- localzoom schema for PostgreSQL, v1: the same tables as SQLite's migrations 0001–0006 produce. Times are
-- integer epoch milliseconds (UTC); ids are TEXT; JSON is stored as TEXT (the store parses it, as on SQLite).

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE accounts (
    id                        TEXT PRIMARY KEY,
    account_number            BIGINT NOT NULL,
    plan                      TEXT NOT NULL,
    owner_email               TEXT NOT NULL,
    managed_domain            TEXT,
    max_basic_users           BIGINT,
    password_history_count    BIGINT NOT NULL DEFAULT 5,
    password_changes_per_day  BIGINT NOT NULL DEFAULT 5,
    security                  TEXT NOT NULL DEFAULT '{}',
    created_at                BIGINT NOT NULL,
    rate_limits               TEXT
);

CREATE TABLE users (
    seq                   BIGSERIAL PRIMARY KEY,
    id                    TEXT NOT NULL UNIQUE,
    account_id            TEXT NOT NULL REFERENCES accounts(id),
    email                 TEXT NOT NULL,
    email_lower           TEXT NOT NULL UNIQUE,
    first_name            TEXT NOT NULL DEFAULT '',
    last_name             TEXT NOT NULL DEFAULT '',
    display_name          TEXT NOT NULL DEFAULT '',
    type                  BIGINT NOT NULL,
    role                  TEXT NOT NULL,
    status                TEXT NOT NULL,
    login_type            BIGINT NOT NULL,
    pmi                   BIGINT NOT NULL,
    use_pmi               BOOLEAN NOT NULL DEFAULT FALSE,
    timezone              TEXT NOT NULL DEFAULT '',
    dept                  TEXT NOT NULL DEFAULT '',
    language              TEXT NOT NULL DEFAULT 'en-US',
    verified              BOOLEAN NOT NULL DEFAULT FALSE,
    is_zoom_room          BOOLEAN NOT NULL DEFAULT FALSE,
    upcoming_zoom_events  BOOLEAN NOT NULL DEFAULT FALSE,
    password_hash         TEXT,
    profile               TEXT NOT NULL DEFAULT '{}',
    created_at            BIGINT NOT NULL,
    last_login_time       BIGINT
);
CREATE INDEX users_account_status_seq ON users(account_id, status, seq);

CREATE TABLE user_counts (
    account_id  TEXT NOT NULL,
    status      TEXT NOT NULL,
    role        TEXT NOT NULL,
    n           BIGINT NOT NULL,
    PRIMARY KEY (account_id, status, role)
);

CREATE TABLE apps (
    client_id             TEXT PRIMARY KEY,
    client_secret_sha256  BYTEA NOT NULL,
    account_id            TEXT NOT NULL REFERENCES accounts(id),
    owner_user_id         TEXT NOT NULL,
    kind                  TEXT NOT NULL,
    scopes                TEXT NOT NULL,
    active                BOOLEAN NOT NULL DEFAULT TRUE,
    created_at            BIGINT NOT NULL,
    redirect_uri          TEXT
);

CREATE TABLE access_tokens (
    token_sha256  BYTEA PRIMARY KEY,
    client_id     TEXT NOT NULL REFERENCES apps(client_id),
    account_id    TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    scopes        TEXT NOT NULL,
    issued_at     BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    revoked       BOOLEAN NOT NULL DEFAULT FALSE,
    kind          TEXT NOT NULL DEFAULT 'access',
    session_id    TEXT
);
CREATE INDEX access_tokens_user ON access_tokens(user_id);
CREATE INDEX access_tokens_expiry ON access_tokens(expires_at);

CREATE TABLE oauth_codes (
    code_sha256     BYTEA PRIMARY KEY,
    client_id       TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    redirect_uri    TEXT NOT NULL,
    code_challenge  TEXT,
    expires_at      BIGINT NOT NULL,
    used            BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE TABLE sessions (
    seq         BIGSERIAL PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    user_id     TEXT NOT NULL,
    login_type  BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    ended_at    BIGINT
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE assistants (
    user_id                        TEXT NOT NULL,
    assistant_id                   TEXT NOT NULL,
    can_manage_host_private_event  BOOLEAN NOT NULL DEFAULT FALSE,
    added_at                       BIGINT NOT NULL,
    PRIMARY KEY (user_id, assistant_id)
);
CREATE INDEX assistants_reverse ON assistants(assistant_id);

CREATE TABLE password_history (
    seq          BIGSERIAL PRIMARY KEY,
    user_id      TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    changed_at   BIGINT NOT NULL,
    initial      BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX password_history_user ON password_history(user_id, changed_at);

CREATE TABLE outbox (
    id          BIGSERIAL PRIMARY KEY,
    to_address  TEXT NOT NULL,
    subject     TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
