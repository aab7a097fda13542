-- Personal Meeting IDs are unique across Zoom: `PATCH /users/{userId}` looks a PMI up before taking it.
CREATE INDEX IF NOT EXISTS users_pmi ON users(pmi);
