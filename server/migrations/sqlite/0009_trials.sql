-- Trials: a product may offer one (length, entitlements); each machine gets one per
-- product, ever.
ALTER TABLE products ADD COLUMN trial_secs BIGINT;
ALTER TABLE products ADD COLUMN trial_entitlements TEXT;

CREATE TABLE trials (
    id                   TEXT PRIMARY KEY,
    product_id           TEXT NOT NULL REFERENCES products(id),
    fingerprint          TEXT NOT NULL,
    name                 TEXT,
    platform             TEXT,
    machine              TEXT,
    ip                   TEXT,
    started_at           BIGINT NOT NULL,
    ends_at              BIGINT NOT NULL,
    last_seen_at         BIGINT NOT NULL,
    converted_at         BIGINT,
    converted_license_id TEXT REFERENCES licenses(id)
);
-- One trial per machine and product, ever: concurrent starts meet here.
CREATE UNIQUE INDEX trials_machine ON trials(product_id, fingerprint);
CREATE INDEX trials_started ON trials(started_at);
