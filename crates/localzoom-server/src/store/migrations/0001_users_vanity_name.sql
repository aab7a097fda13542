-- A user's personal meeting room name, a column of its own so that `GET /users/vanity_name` and the uniqueness
-- `PATCH /users/{userId}` keeps can find it by name, in any case.
ALTER TABLE users ADD COLUMN vanity_name TEXT;
CREATE INDEX users_vanity_name ON users(lower(vanity_name));
