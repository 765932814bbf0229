-- Licet schema, SQLite flavour. Instants are Unix seconds (BIGINT), ids TEXT, JSON as TEXT,
-- so that the portable query layer reads SQLite and PostgreSQL the same way.

CREATE TABLE products (
    id                    TEXT PRIMARY KEY,
    slug                  TEXT NOT NULL UNIQUE,
    name                  TEXT NOT NULL,
    kind                  TEXT NOT NULL,
    max_activations       BIGINT NOT NULL,
    license_duration_secs BIGINT,
    token_lifetime_secs   BIGINT NOT NULL,
    entitlements          TEXT NOT NULL,
    metadata              TEXT NOT NULL,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL
);

CREATE TABLE licenses (
    id                  TEXT PRIMARY KEY,
    license_key         TEXT NOT NULL UNIQUE,
    product_id          TEXT NOT NULL REFERENCES products(id),
    email               TEXT NOT NULL,
    status              TEXT NOT NULL,
    expires_at          BIGINT,
    max_activations     BIGINT,
    token_lifetime_secs BIGINT,
    entitlements        TEXT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
CREATE INDEX licenses_email ON licenses(email);
CREATE INDEX licenses_product ON licenses(product_id, created_at);

CREATE TABLE activations (
    id             TEXT PRIMARY KEY,
    license_id     TEXT NOT NULL REFERENCES licenses(id),
    fingerprint    TEXT NOT NULL,
    name           TEXT,
    platform       TEXT,
    machine        TEXT,
    ip             TEXT,
    first_seen_at  BIGINT NOT NULL,
    last_seen_at   BIGINT NOT NULL,
    deactivated_at BIGINT
);
-- One live seat per machine and license; the race test leans on this too.
CREATE UNIQUE INDEX activations_live ON activations(license_id, fingerprint) WHERE deactivated_at IS NULL;
CREATE INDEX activations_license ON activations(license_id, first_seen_at);

CREATE TABLE signing_keys (
    kid          TEXT PRIMARY KEY,
    public_key   TEXT NOT NULL,
    private_key  TEXT NOT NULL,
    state        TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    activated_at BIGINT,
    retired_at   BIGINT
);

CREATE TABLE admin_tokens (
    id         TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    label      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE audit_log (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    at           BIGINT NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    subject_type TEXT NOT NULL,
    subject_id   TEXT NOT NULL,
    details      TEXT NOT NULL
);
CREATE INDEX audit_subject ON audit_log(subject_id);

CREATE TABLE rate_limits (
    bucket       TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    hits         BIGINT NOT NULL,
    PRIMARY KEY (bucket, window_start)
);

CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
