-- Web sessions and single-use sign-in links (only hashes of their tokens are stored).

CREATE TABLE web_sessions (
    id_hash    TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    email      TEXT NOT NULL,
    csrf       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE sign_in_links (
    token_hash TEXT PRIMARY KEY,
    email      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
