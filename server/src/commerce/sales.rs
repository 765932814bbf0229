//! Purchases and their fulfilment: where a payment becomes licenses, access grants and a
//! delivery email, once, whatever the payment provider retries, reorders or duplicates.
//!
//! Fulfilment is one transaction under the purchase's lock: re-read the purchase, stop if it
//! is fulfilled already (idempotence) or not paid, stop if its payment was refunded before
//! (a refund can arrive first), mint a license per license product (unique per purchase
//! and product), grant access per access product, queue the delivery email in the outbox
//! (unique per purchase), mark the purchase fulfilled, and, when a dispute of the payment
//! opened first and is still open, mark it disputed with its licenses suspended. A crash anywhere loses nothing: the
//! transaction either happened or not, and the outbox worker sends what was queued.

use licet_proto::ErrorCode;
use licet_proto::admin::{Access, CreatePurchase, ProductKind, Purchase, PurchaseStatus};

use crate::auth::{Actor, Admin};
use crate::catalogue::{self, MintedLicense, Overrides};
use crate::commerce::Context;
use crate::commerce::downloads;
use crate::commerce::mail;
use crate::platform::crypto::new_id;
use crate::platform::error::{Error, Result};
use crate::store::{
    DisputeStatus, LicenseEffect, NewAudit, ProductRow, PurchaseFilter, PurchaseRow, json_list,
    parse_list,
};

/// A purchase as a provider announced it.
#[derive(Debug, Clone)]
pub struct NewPurchase {
    pub email: String,
    /// Product slugs.
    pub products: Vec<String>,
    pub amount: Option<i64>,
    pub currency: Option<String>,
    /// `stripe`, `manual`, …
    pub provider: String,
    /// Checkout session id.
    pub session_id: Option<String>,
    pub payment_id: Option<String>,
    /// Initial status.
    pub status: PurchaseStatus,
}

/// What a fulfilment attempt did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fulfilment {
    /// Licenses, grants and the email were created now.
    Done,
    /// It had been fulfilled before; nothing changed.
    AlreadyDone,
    /// The purchase is not (yet) paid.
    NotPaid,
    /// Its payment had been refunded; the purchase is now `REFUNDED` and nothing was granted.
    Refunded,
}

/// Records the purchase of a provider session or payment (or finds the one recorded).
pub async fn record(app: &impl Context, actor: &str, new: &NewPurchase) -> Result<PurchaseRow> {
    let now = app.now();
    let download_limit = download_limit(app, &new.products).await?;
    let row = PurchaseRow {
        id: new_id("pur"),
        email: new.email.trim().to_owned(),
        products: json_list(&new.products),
        amount: new.amount,
        currency: new.currency.clone(),
        provider: new.provider.clone(),
        provider_session_id: new.session_id.clone(),
        provider_payment_id: new.payment_id.clone(),
        status: new.status,
        fulfilled_at: None,
        fulfilment_error: None,
        delivered_at: None,
        download_count: 0,
        download_limit,
        created_at: now,
        updated_at: now,
    };
    let audit = NewAudit::new(
        now,
        actor,
        "purchase.created",
        ("purchase", &row.id),
        serde_json::json!({ "provider": row.provider, "status": row.status, "products": new.products }),
    );
    Ok(app.store().record_purchase(&row, &audit).await?)
}

/// The largest download limit among the products (a purchase has one download budget);
/// the default when none of them is known.
async fn download_limit(app: &impl Context, slugs: &[String]) -> Result<i64> {
    let mut limit = None;
    for slug in slugs {
        if let Some(p) = app.store().product_by_slug(slug).await? {
            limit = Some(limit.map_or(p.download_limit, |l: i64| l.max(p.download_limit)));
        }
    }
    Ok(limit.unwrap_or(i64::from(licet_proto::admin::DEFAULT_DOWNLOAD_LIMIT)))
}

/// Moves a purchase to `status` (learning its payment id if it was not known).
pub async fn set_status(
    app: &impl Context,
    actor: &str,
    purchase_id: &str,
    status: PurchaseStatus,
    payment_id: Option<&str>,
) -> Result<()> {
    let now = app.now();
    let audit = NewAudit::new(
        now,
        actor,
        "purchase.status",
        ("purchase", purchase_id),
        serde_json::json!({ "status": status.as_str() }),
    );
    app.store()
        .change_purchase_status(purchase_id, status, payment_id, now, &audit)
        .await?;
    Ok(())
}

/// Fulfils a purchase once. A business failure (an unknown product) is recorded on the
/// purchase for the vendor to see and retry, and returned.
pub async fn fulfil(app: &impl Context, actor: Actor<'_>, purchase_id: &str) -> Result<Fulfilment> {
    match fulfil_once(app, &actor.audit_name(), purchase_id).await {
        Ok(outcome) => {
            if outcome == Fulfilment::Done {
                app.mail().wake();
            }
            Ok(outcome)
        }
        Err(e @ Error::Api { .. }) => {
            app.store()
                .mark_fulfilment_failed(purchase_id, &e.public_message(), app.now())
                .await?;
            Err(e)
        }
        Err(e) => {
            let _ = app
                .store()
                .mark_fulfilment_failed(
                    purchase_id,
                    "internal error; see the server log",
                    app.now(),
                )
                .await;
            Err(e)
        }
    }
}

async fn fulfil_once(app: &impl Context, actor: &str, purchase_id: &str) -> Result<Fulfilment> {
    let now = app.now();
    let mut work = app.store().fulfil_purchase(purchase_id).await?;
    let purchase = work
        .purchase()
        .await?
        .ok_or_else(|| Error::new(ErrorCode::NotFound, "no such purchase"))?;
    if purchase.fulfilled_at.is_some() {
        return Ok(Fulfilment::AlreadyDone);
    }
    if purchase.status != PurchaseStatus::Completed {
        return Ok(Fulfilment::NotPaid);
    }
    let flags = match &purchase.provider_payment_id {
        Some(payment) => work.payment_flags(&purchase.provider, payment).await?,
        None => None,
    };
    if flags.is_some_and(|f| f.refunded_at.is_some()) {
        work.set_status(PurchaseStatus::Refunded, now).await?;
        work.audit(&NewAudit::new(
            now,
            actor,
            "purchase.refunded_before_fulfilment",
            ("purchase", &purchase.id),
            serde_json::json!({}),
        ))
        .await?;
        work.commit().await?;
        return Ok(Fulfilment::Refunded);
    }

    let slugs = parse_list(&purchase.products);
    if slugs.is_empty() {
        return Err(Error::new(
            ErrorCode::InvalidRequest,
            "the purchase names no product",
        ));
    }
    let subscription = work.subscription().await?;
    let mut products: Vec<ProductRow> = Vec::new();
    for slug in &slugs {
        let product = app.store().product_by_slug(slug).await?.ok_or_else(|| {
            Error::new(
                ErrorCode::NotFound,
                format!("the purchase names an unknown product {slug:?}"),
            )
        })?;
        products.push(product);
    }
    for product in &products {
        match product.kind {
            ProductKind::License => {
                // Sold by subscription: the grace from now until the paid period is known
                // (below, or when its invoice arrives), whatever the product's duration.
                let expires_at = match &subscription {
                    Some(_) => Some(now.saturating_add(product.subscription_grace_secs)),
                    None => product.license_duration_secs.map(|d| now.saturating_add(d)),
                };
                let id = new_id("lic");
                let minted = MintedLicense::new(
                    &id,
                    actor,
                    product,
                    &purchase.email,
                    expires_at,
                    Overrides::default(),
                    Some(&purchase.id),
                    now,
                );
                let keys = catalogue::key_generator(app, product);
                if !work
                    .mint_license(&minted.license, keys, &minted.audit)
                    .await?
                {
                    return Err(catalogue::no_unique_key());
                }
            }
            ProductKind::Access => {
                work.grant_access(&new_id("acc"), &product.id, &purchase.email, now)
                    .await?;
            }
            ProductKind::Download => {}
        }
    }
    if let Some(paid) = subscription.as_ref().and_then(|s| s.paid_through) {
        // The invoice arrived before the checkout: the licenses start with its period.
        work.apply_subscription(&LicenseEffect::PaidThrough(paid), now)
            .await?;
    }
    let keys = work.keys().await?;
    let links = work
        .mint_download_links(&purchase, now, downloads::link_minter(app, now))
        .await?;
    let message = mail::delivery(app, &purchase, &products, &keys, &links, now);
    work.queue_mail(&message).await?;
    work.mark_fulfilled(now).await?;
    if flags.is_some_and(|f| f.dispute == Some(DisputeStatus::Open)) {
        // The dispute arrived first: the purchase starts out as it would be had the dispute
        // come after it (disputed, licenses suspended, downloads closed), and a dispute
        // closed in the vendor's favour reinstates it the usual way.
        work.set_status(PurchaseStatus::Disputed, now).await?;
        let suspended = work.suspend_licenses(now).await?;
        work.audit(&NewAudit::new(
            now,
            actor,
            "purchase.disputed_before_fulfilment",
            ("purchase", &purchase.id),
            serde_json::json!({ "suspended_licenses": suspended }),
        ))
        .await?;
    }
    work.audit(&NewAudit::new(
        now,
        actor,
        "purchase.fulfilled",
        ("purchase", &purchase.id),
        serde_json::json!({ "licenses": keys.len() }),
    ))
    .await?;
    work.commit().await?;
    Ok(Fulfilment::Done)
}

/// `POST /v1/admin/purchases`: a completed purchase by hand, fulfilled at once.
pub async fn grant(app: &impl Context, admin: &Admin, req: CreatePurchase) -> Result<Purchase> {
    catalogue::check_email(&req.email)?;
    if req.products.is_empty() || req.products.len() > 50 {
        return Err(Error::invalid("products must name 1 to 50 product slugs"));
    }
    for slug in &req.products {
        catalogue::product(app, slug).await?;
    }
    let provider = req.provider.unwrap_or_else(|| "manual".into());
    if provider == "stripe" || provider.is_empty() || provider.len() > 40 {
        return Err(Error::invalid(
            "provider must be 1 to 40 characters and not \"stripe\"",
        ));
    }
    let purchase = record(
        app,
        admin.actor(),
        &NewPurchase {
            email: req.email,
            products: req.products,
            amount: req.amount,
            currency: req.currency,
            provider,
            session_id: None,
            payment_id: req.provider_payment_id,
            status: PurchaseStatus::Completed,
        },
    )
    .await?;
    fulfil(app, Actor::Admin(admin), &purchase.id).await?;
    show(app, &purchase.id).await
}

/// A purchase with the licenses it minted.
pub async fn show(app: &impl Context, purchase_id: &str) -> Result<Purchase> {
    let row = app
        .store()
        .purchase(purchase_id)
        .await?
        .ok_or_else(|| Error::new(ErrorCode::NotFound, "no such purchase"))?;
    let licenses = app.store().licenses_of_purchase(&row.id).await?;
    let subscription = crate::commerce::subscriptions::of_purchase(app, &row.id).await?;
    let mut purchase = to_wire(row, licenses.into_iter().map(|(id, _)| id).collect());
    purchase.subscription = subscription;
    Ok(purchase)
}

/// Purchases matching a filter.
pub async fn list(app: &impl Context, filter: &PurchaseFilter) -> Result<Vec<Purchase>> {
    Ok(app
        .store()
        .purchases(filter)
        .await?
        .into_iter()
        .map(|r| to_wire(r, Vec::new()))
        .collect())
}

fn to_wire(r: PurchaseRow, licenses: Vec<String>) -> Purchase {
    Purchase {
        status: r.status,
        products: parse_list(&r.products),
        id: r.id,
        email: r.email,
        amount: r.amount,
        currency: r.currency,
        provider: r.provider,
        provider_session_id: r.provider_session_id,
        provider_payment_id: r.provider_payment_id,
        fulfilled_at: r.fulfilled_at,
        fulfilment_error: r.fulfilment_error,
        delivered_at: r.delivered_at,
        download_count: r.download_count,
        download_limit: r.download_limit,
        licenses,
        created_at: r.created_at,
        subscription: None,
    }
}

/// A full refund of a payment: the purchase becomes `REFUNDED`, its licenses are revoked and
/// its access ends. Remembered when the purchase does not exist yet, so a late completion
/// grants nothing.
pub async fn refund(
    app: &impl Context,
    actor: &str,
    provider: &str,
    payment_id: &str,
) -> Result<()> {
    let now = app.now();
    app.store()
        .refund_payment(provider, payment_id, now, |change| {
            NewAudit::new(
                now,
                actor,
                "purchase.refunded",
                ("purchase", &change.purchase.id),
                serde_json::json!({ "revoked_licenses": change.licenses }),
            )
        })
        .await?;
    Ok(())
}

/// A dispute opened: the purchase is `DISPUTED` and its licenses suspended.
pub async fn dispute_opened(
    app: &impl Context,
    actor: &str,
    provider: &str,
    payment_id: &str,
) -> Result<()> {
    let now = app.now();
    app.store()
        .open_dispute(provider, payment_id, now, |change| {
            NewAudit::new(
                now,
                actor,
                "purchase.disputed",
                ("purchase", &change.purchase.id),
                serde_json::json!({ "suspended_licenses": change.licenses }),
            )
        })
        .await?;
    Ok(())
}

/// A dispute closed: won reinstates the purchase and its licenses; lost is a refund.
pub async fn dispute_closed(
    app: &impl Context,
    actor: &str,
    provider: &str,
    payment_id: &str,
    won: bool,
) -> Result<()> {
    let now = app.now();
    let outcome = if won {
        DisputeStatus::Won
    } else {
        DisputeStatus::Lost
    };
    app.store()
        .close_dispute(provider, payment_id, now, outcome, |change| {
            NewAudit::new(
                now,
                actor,
                "purchase.dispute_won",
                ("purchase", &change.purchase.id),
                serde_json::json!({ "reinstated_licenses": change.licenses }),
            )
        })
        .await?;
    if !won {
        return refund(app, actor, provider, payment_id).await;
    }
    Ok(())
}

/// `GET /v1/access`: whether `email` has live access to a product.
pub async fn access(app: &impl Context, email: &str, product: &str) -> Result<Access> {
    catalogue::product(app, product).await?;
    let grants = app.store().live_access(email.trim(), product).await?;
    Ok(Access {
        email: email.trim().to_owned(),
        product: product.to_owned(),
        granted: !grants.is_empty(),
        purchases: grants.into_iter().map(|(p, _)| p).collect(),
    })
}
