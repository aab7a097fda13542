-- User-level OAuth: refresh tokens live beside access tokens (kind), a user-level token belongs to the sign-in
-- session it opened, and authorization codes wait five minutes to be exchanged once.
ALTER TABLE access_tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'access';
ALTER TABLE access_tokens ADD COLUMN session_id TEXT;

CREATE TABLE oauth_codes (
    code_sha256     BLOB PRIMARY KEY,
    client_id       TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    redirect_uri    TEXT NOT NULL,
    code_challenge  TEXT,
    expires_at      INTEGER NOT NULL,
    used            INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
