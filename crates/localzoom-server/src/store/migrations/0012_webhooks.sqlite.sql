-- An app's event subscriptions (Zoom's "Event Subscriptions"): where events go, which, and the secret token
-- that signs them. `validation` is pending until the endpoint answers Zoom's URL validation, then validated or
-- failed; `validated_at` is the last success (Zoom validates again every 72 hours). `claimed_by`/`claimed_until`:
-- the node validating it now, so one node asks at a time.
CREATE TABLE IF NOT EXISTS webhook_subscriptions (
    id                TEXT PRIMARY KEY,
    account_id        TEXT NOT NULL,
    client_id         TEXT NOT NULL,
    url               TEXT NOT NULL,
    secret_token      TEXT NOT NULL,
    events            TEXT NOT NULL,
    validation        TEXT NOT NULL,
    validated_at      BIGINT,
    validation_detail TEXT,
    created_at        BIGINT NOT NULL,
    claimed_by        TEXT,
    claimed_until     BIGINT
);
CREATE INDEX IF NOT EXISTS webhook_subscriptions_account ON webhook_subscriptions(account_id);
-- The transactional outbox of events: one row per event and subscription, written in the transaction of the
-- change that caused it, delivered in id order per subscription. `claimed_by`/`claimed_until`: the node
-- sending it now (the database decides who sends it).
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    subscription_id   TEXT NOT NULL,
    account_id        TEXT NOT NULL,
    event             TEXT NOT NULL,
    event_ts          BIGINT NOT NULL,
    body              TEXT NOT NULL,
    state             TEXT NOT NULL,
    attempts          BIGINT NOT NULL,
    next_attempt_at   BIGINT NOT NULL,
    claimed_by        TEXT,
    claimed_until     BIGINT,
    last_status       BIGINT,
    last_error        TEXT,
    last_latency_ms   BIGINT,
    finished_at       BIGINT
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_pending ON webhook_deliveries(state, subscription_id, id);
CREATE INDEX IF NOT EXISTS webhook_deliveries_subscription ON webhook_deliveries(subscription_id, id);
-- Finished deliveries are kept for a while, then pruned by age.
CREATE INDEX IF NOT EXISTS webhook_deliveries_finished ON webhook_deliveries(finished_at);
