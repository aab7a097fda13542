-- Ending a sign-in session revokes the tokens issued in it: they are found by their session.
CREATE INDEX access_tokens_session ON access_tokens(session_id) WHERE session_id IS NOT NULL;
-- Sessions that ended before this rule existed leave no working token behind either.
UPDATE access_tokens SET revoked = TRUE WHERE session_id IN (SELECT id FROM sessions WHERE ended_at IS NOT NULL);
