-- Hardening after an attack run.

-- Rate-limit windows of different lengths (a minute for the license API, a quarter hour for
-- sign-in emails per recipient): each row says when it can go.
ALTER TABLE rate_limits ADD COLUMN expires_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX rate_limits_expiry ON rate_limits(expires_at);

-- Download resumes are free only within the resume window of a counted download on the same
-- link, for the same client, up to a byte budget.
ALTER TABLE download_links ADD COLUMN resume_client TEXT;
ALTER TABLE download_links ADD COLUMN resume_until BIGINT;
ALTER TABLE download_links ADD COLUMN resume_bytes_left BIGINT;

-- A message the mail server keeps refusing is given up after its retry schedule: failed,
-- shown on the dashboard, sent again only when the vendor asks.
ALTER TABLE outbox ADD COLUMN failed_at BIGINT;
CREATE INDEX outbox_failed ON outbox(failed_at);

-- The audit log is kept for LICET_AUDIT_RETENTION_DAYS and pruned by age.
CREATE INDEX audit_at ON audit_log(at);
