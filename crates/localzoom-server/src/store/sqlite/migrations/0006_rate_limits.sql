-- Per-account overrides of the plan's rate limits: a JSON object of limit names to counts (null: no limit).
ALTER TABLE accounts ADD COLUMN rate_limits TEXT;
