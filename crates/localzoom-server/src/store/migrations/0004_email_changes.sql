-- When each user's e-mail was changed: `PUT /users/{userId}/email` allows 3 changes in any 24 hours.
CREATE TABLE email_changes (
    user_id     TEXT NOT NULL,
    changed_at  BIGINT NOT NULL
);
CREATE INDEX email_changes_user ON email_changes(user_id, changed_at);
