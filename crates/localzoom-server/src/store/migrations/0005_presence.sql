-- Each user's presence status as last set through `PUT /users/{userId}/presence_status` (none: Available while
-- signed in), when a Do-Not-Disturb ends, and when it was set (one update a minute per user).
CREATE TABLE IF NOT EXISTS presence (
    user_id     TEXT PRIMARY KEY,
    status      TEXT NOT NULL,
    until_ms    BIGINT,
    updated_at  BIGINT NOT NULL
);
