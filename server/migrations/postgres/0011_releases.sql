-- Releases (issue 14): versions of a product on channels, one artifact per platform, and
-- each license's end of updates. Same portable types as 0001.

-- A license's updates period from issue ("maintenance"); NULL: until the license expires.
ALTER TABLE products ADD COLUMN maintenance_secs BIGINT;
-- Whether trials are offered releases (0/1).
ALTER TABLE products ADD COLUMN trial_updates BIGINT NOT NULL DEFAULT 0;
-- Releases published until then are the license's; NULL: until it expires (or forever).
ALTER TABLE licenses ADD COLUMN updates_until BIGINT;

CREATE TABLE releases (
    id           TEXT PRIMARY KEY,
    product_id   TEXT NOT NULL REFERENCES products(id),
    version      TEXT NOT NULL,
    channel      TEXT NOT NULL,
    notes        TEXT NOT NULL,
    entitlement  TEXT,
    state        TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    published_at BIGINT,
    yanked_at    BIGINT
);
-- A version is published once per product, whatever the channel.
CREATE UNIQUE INDEX releases_version ON releases(product_id, version);

CREATE TABLE release_artifacts (
    id           TEXT PRIMARY KEY,
    release_id   TEXT NOT NULL REFERENCES releases(id),
    platform     TEXT NOT NULL,
    name         TEXT NOT NULL,
    size         BIGINT NOT NULL,
    sha256       TEXT NOT NULL,
    content_type TEXT NOT NULL,
    signature    TEXT,
    downloads    BIGINT NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX release_artifacts_platform ON release_artifacts(release_id, platform);
