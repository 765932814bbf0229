-- Subscriptions (issue 13): products sold by a recurring price, their subscriptions, and the
-- invoices that paid them. Same portable types as 0001 (BIGINT Unix seconds, TEXT ids,
-- integer flags).

-- How long a subscription license outlives its paid period while a renewal is retried, and
-- the product's own link to the customer's billing portal.
ALTER TABLE products ADD COLUMN subscription_grace_secs BIGINT NOT NULL DEFAULT 259200;
ALTER TABLE products ADD COLUMN billing_portal_url TEXT;

-- One row per provider subscription. Events about it arrive in any order: the row can exist
-- before its purchase (an invoice paid before the checkout event), so `purchase_id` is set
-- when the checkout is seen.
CREATE TABLE subscriptions (
    id                    TEXT PRIMARY KEY,
    provider              TEXT NOT NULL,
    purchase_id           TEXT REFERENCES purchases(id),
    status                TEXT NOT NULL,
    -- End of the current billing period, as the latest subscription event said.
    period_end            BIGINT,
    -- End of the latest paid period (max over paid invoices): licenses run to it + grace.
    paid_through          BIGINT,
    cancel_at_period_end  BIGINT NOT NULL DEFAULT 0,
    price_id              TEXT,
    -- Monthly recurring revenue of this subscription, smallest currency unit.
    monthly_amount        BIGINT,
    currency              TEXT,
    -- The unpaid renewal, while there is one: when it failed and the period it was for.
    payment_failed_at     BIGINT,
    failed_period_end     BIGINT,
    -- Stripe `created` of the latest subscription event applied (older ones are ignored).
    state_at              BIGINT NOT NULL DEFAULT 0,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL
);
-- One subscription per purchase; also the lookup of the lease's subscription claim.
CREATE UNIQUE INDEX subscriptions_purchase ON subscriptions(purchase_id);
CREATE INDEX subscriptions_status ON subscriptions(status);

-- Every invoice of a subscription that was paid, once: renewals are idempotent on the
-- invoice id whichever event (or how many deliveries) announces them.
CREATE TABLE subscription_invoices (
    invoice_id      TEXT PRIMARY KEY,
    subscription_id TEXT NOT NULL,
    period_end      BIGINT NOT NULL,
    amount_paid     BIGINT,
    billing_reason  TEXT,
    paid_at         BIGINT NOT NULL
);
CREATE INDEX subscription_invoices_subscription ON subscription_invoices(subscription_id, period_end);

-- The payments (payment intents) that paid a subscription's invoices, so a refund or a
-- dispute of one, which names only the payment, finds its purchase. The subscription is
-- known from the invoice event, or later through `subscription_invoices`.
CREATE TABLE subscription_payments (
    payment_id      TEXT PRIMARY KEY,
    invoice_id      TEXT NOT NULL,
    subscription_id TEXT
);
CREATE INDEX subscription_payments_invoice ON subscription_payments(invoice_id);
