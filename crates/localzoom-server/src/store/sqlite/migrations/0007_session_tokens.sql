-- Ending a sign-in session revokes the tokens issued in it: they are found by their session.
CREATE INDEX access_tokens_session ON access_tokens(session_id) WHERE session_id IS NOT NULL;
