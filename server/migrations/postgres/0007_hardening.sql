-- Hardening after an attack run.

-- Rate-limit windows of different lengths (a minute for the license API, a quarter hour for
-- sign-in emails per recipient): each row says when it can go.
ALTER TABLE rate_limits ADD COLUMN expires_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX rate_limits_expiry ON rate_limits(expires_at);
