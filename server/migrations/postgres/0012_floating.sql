-- Floating licenses (issue 15): a product's seats are held by leases that heartbeats renew.
-- NULL floating_lease_secs: node-locked (activations), as before.
ALTER TABLE products ADD COLUMN floating_lease_secs BIGINT;
ALTER TABLE products ADD COLUMN floating_max_borrow_secs BIGINT NOT NULL DEFAULT 0;

-- One row per holding of a seat. A seat counts while released_at IS NULL and its lease
-- has not ended; ended rows stay as the history of use.
CREATE TABLE floating_seats (
    id             TEXT PRIMARY KEY,
    license_id     TEXT NOT NULL REFERENCES licenses(id),
    fingerprint    TEXT NOT NULL,
    -- '' for a per-machine seat.
    instance       TEXT NOT NULL,
    name           TEXT,
    platform       TEXT,
    ip             TEXT,
    checked_out_at BIGINT NOT NULL,
    lease_ends_at  BIGINT NOT NULL,
    borrowed       BIGINT NOT NULL DEFAULT 0,
    released_at    BIGINT
);
-- At most one open holding per machine and instance of a license.
CREATE UNIQUE INDEX floating_seats_open ON floating_seats(license_id, fingerprint, instance)
    WHERE released_at IS NULL;
CREATE INDEX floating_seats_live ON floating_seats(license_id, lease_ends_at)
    WHERE released_at IS NULL;
