-- Air-gapped activation (issue 15): the per-activation public key an offline machine sent
-- with its activation request, keyed by the request's nonce. A deactivation proof signed by
-- that key frees the seat once: `ended_at` is then set, and a replayed proof finds it set.
-- A row also ends when its activation ends by any other way (online deactivation, the
-- vendor's removal, a newer offline request from the same machine).
CREATE TABLE offline_activations (
    nonce         TEXT PRIMARY KEY,
    activation_id TEXT NOT NULL REFERENCES activations(id),
    public_key    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    ended_at      BIGINT
);
CREATE INDEX offline_activations_open ON offline_activations(activation_id)
    WHERE ended_at IS NULL;
