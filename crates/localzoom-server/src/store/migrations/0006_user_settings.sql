-- What each user changed of their settings through `PATCH /users/{userId}/settings`, as a JSON object of setting
-- groups; reads lay it over Zoom's defaults, so a user who changed nothing has no row.
CREATE TABLE IF NOT EXISTS user_settings (
    user_id   TEXT PRIMARY KEY,
    settings  TEXT NOT NULL
);
