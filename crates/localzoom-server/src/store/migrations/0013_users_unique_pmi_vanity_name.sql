-- PMIs and vanity names are unique across Zoom. Writes of different accounts run at once on PostgreSQL, so the
-- lookup a write makes first cannot keep them unique alone: unique indexes do (as `email_lower`'s always has), and
-- a write that loses the race is refused as the lookup would have refused it.
DROP INDEX IF EXISTS users_pmi;
CREATE UNIQUE INDEX users_pmi_unique ON users (pmi);
DROP INDEX IF EXISTS users_vanity_name;
CREATE UNIQUE INDEX users_vanity_name_unique ON users (lower(vanity_name));
