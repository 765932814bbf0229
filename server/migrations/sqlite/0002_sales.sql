-- Sales and delivery: purchases, payment-provider events, fulfilment, access grants and the
-- email outbox. Same portable types as 0001.

CREATE TABLE purchases (
    id                  TEXT PRIMARY KEY,
    email               TEXT NOT NULL,
    products            TEXT NOT NULL,
    amount              BIGINT,
    currency            TEXT,
    provider            TEXT NOT NULL,
    provider_session_id TEXT,
    provider_payment_id TEXT,
    status              TEXT NOT NULL,
    fulfilled_at        BIGINT,
    fulfilment_error    TEXT,
    delivered_at        BIGINT,
    download_count      BIGINT NOT NULL DEFAULT 0,
    download_limit      BIGINT NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
-- One purchase per checkout session and per payment: the business keys that make a
-- payment fulfil once, however many events announce it.
CREATE UNIQUE INDEX purchases_session ON purchases(provider, provider_session_id) WHERE provider_session_id IS NOT NULL;
CREATE UNIQUE INDEX purchases_payment ON purchases(provider, provider_payment_id) WHERE provider_payment_id IS NOT NULL;
CREATE INDEX purchases_email ON purchases(email, created_at);
CREATE INDEX purchases_status ON purchases(status, created_at);

-- What happened to a payment before or after its purchase exists (a refund can arrive
-- before the completion it refunds).
CREATE TABLE payment_flags (
    provider       TEXT NOT NULL,
    payment_id     TEXT NOT NULL,
    refunded_at    BIGINT,
    disputed_at    BIGINT,
    dispute_status TEXT,
    PRIMARY KEY (provider, payment_id)
);

CREATE TABLE webhook_events (
    id           TEXT PRIMARY KEY,
    provider     TEXT NOT NULL,
    event_type   TEXT NOT NULL,
    payload      TEXT NOT NULL,
    received_at  BIGINT NOT NULL,
    processed_at BIGINT,
    error        TEXT
);

ALTER TABLE licenses ADD COLUMN purchase_id TEXT;
-- One license per purchase and product: a second fulfilment cannot mint a second key.
CREATE UNIQUE INDEX licenses_purchase ON licenses(purchase_id, product_id) WHERE purchase_id IS NOT NULL;

ALTER TABLE products ADD COLUMN stripe_price_ids TEXT NOT NULL DEFAULT '[]';
ALTER TABLE products ADD COLUMN download_limit BIGINT NOT NULL DEFAULT 5;

CREATE TABLE access_grants (
    id          TEXT PRIMARY KEY,
    purchase_id TEXT NOT NULL REFERENCES purchases(id),
    product_id  TEXT NOT NULL REFERENCES products(id),
    email       TEXT NOT NULL,
    granted_at  BIGINT NOT NULL,
    revoked_at  BIGINT,
    UNIQUE (purchase_id, product_id)
);
CREATE INDEX access_email ON access_grants(email, product_id);

CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    dedupe_key      TEXT NOT NULL UNIQUE,
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body_text       TEXT NOT NULL,
    body_html       TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_until   BIGINT,
    sent_at         BIGINT,
    last_error      TEXT
);
CREATE INDEX outbox_due ON outbox(sent_at, next_attempt_at);
