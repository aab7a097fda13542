-- What Zoom keeps for a user but offers no API to create (collaboration devices, meeting summary templates,
-- meeting templates), loaded through the control API; `body` is the resource as reads answer it.
CREATE TABLE IF NOT EXISTS user_resources (
    user_id  TEXT NOT NULL,
    kind     TEXT NOT NULL,
    id       TEXT NOT NULL,
    body     TEXT NOT NULL,
    PRIMARY KEY (user_id, kind, id)
);
