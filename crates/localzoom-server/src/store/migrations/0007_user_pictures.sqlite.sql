-- Each user's profile picture as uploaded through `POST /users/{userId}/picture`, served at its `pic_url`; the
-- version (upload time) names each upload, so a new picture gets a new URL.
CREATE TABLE IF NOT EXISTS user_pictures (
    user_id       TEXT PRIMARY KEY,
    content_type  TEXT NOT NULL,
    version       BIGINT NOT NULL,
    bytes         BLOB NOT NULL
);
