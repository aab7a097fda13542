-- Virtual background files uploaded through `POST /users/{userId}/settings/virtual_backgrounds` (at most ten per
-- user), listed in the user's settings (`in_meeting.virtual_background_settings.files`) in upload order.
CREATE TABLE IF NOT EXISTS virtual_backgrounds (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL,
    name          TEXT NOT NULL,
    kind          TEXT NOT NULL,
    size          BIGINT NOT NULL,
    is_default    BOOLEAN NOT NULL,
    created_at    BIGINT NOT NULL,
    bytes         BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS virtual_backgrounds_user ON virtual_backgrounds (user_id, created_at);
