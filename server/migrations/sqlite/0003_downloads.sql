-- Downloads: product files (content-addressed), expiring single-purchase links (only a
-- hash of each token is stored) and a log of every download.

CREATE TABLE files (
    id           TEXT PRIMARY KEY,
    product_id   TEXT NOT NULL REFERENCES products(id),
    name         TEXT NOT NULL,
    size         BIGINT NOT NULL,
    sha256       TEXT NOT NULL,
    content_type TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    UNIQUE (product_id, name)
);

CREATE TABLE download_links (
    token_hash  TEXT PRIMARY KEY,
    purchase_id TEXT NOT NULL REFERENCES purchases(id),
    file_id     TEXT NOT NULL REFERENCES files(id),
    expires_at  BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX download_links_purchase ON download_links(purchase_id);

CREATE TABLE downloads (
    id          TEXT PRIMARY KEY,
    purchase_id TEXT NOT NULL,
    file_id     TEXT NOT NULL,
    at          BIGINT NOT NULL,
    ip          TEXT,
    user_agent  TEXT,
    range_start BIGINT,
    counted     BIGINT NOT NULL
);
CREATE INDEX downloads_purchase ON downloads(purchase_id, at);
