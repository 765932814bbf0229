-- Indexes for the dashboard's searches and lists: case-insensitive email lookups and
-- newest-first pages.

CREATE INDEX licenses_email_ci ON licenses(lower(email));
CREATE INDEX licenses_created ON licenses(created_at);
CREATE INDEX purchases_email_ci ON purchases(lower(email));
CREATE INDEX purchases_created ON purchases(created_at);
CREATE INDEX activations_first_seen ON activations(first_seen_at);
CREATE INDEX web_sessions_expiry ON web_sessions(expires_at);
