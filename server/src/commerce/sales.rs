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
use crate::catalogue::{self, Overrides};
use crate::commerce::Context;
use crate::commerce::downloads;
use crate::commerce::mail;
use crate::platform::crypto::new_id;
use crate::platform::error::{Error, Result};
use crate::store::{
    DisputeStatus, ProductRow, PurchaseFilter, PurchaseRow, audit, json_list, parse_list,
};

/// A purchase as a provider announced it.
#[derive(Debug, Clone)]
pub struct NewPurchase {
    /// Customer email.
    pub email: String,
    /// Product slugs.
    pub products: Vec<String>,
    /// Amount.
    pub amount: Option<i64>,
    /// Currency.
    pub currency: Option<String>,
    /// `stripe`, `manual`, …
    pub provider: String,
    /// Checkout session id.
    pub session_id: Option<String>,
    /// Payment id.
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
        status: new.status.as_str().to_owned(),
        fulfilled_at: None,
        fulfilment_error: None,
        delivered_at: None,
        download_count: 0,
        download_limit,
        created_at: now,
        updated_at: now,
    };
    let mut tx = app.store().begin_write().await?;
    let stored = app.store().upsert_purchase(&mut tx, &row).await?;
    if stored.id == row.id {
        audit::record(
            &mut *tx,
            now,
            actor,
            "purchase.created",
            ("purchase", &row.id),
            &serde_json::json!({ "provider": row.provider, "status": row.status, "products": new.products }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(stored)
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
    let mut tx = app.store().begin_write().await?;
    app.store().lock_purchase(&mut tx, purchase_id).await?;
    app.store()
        .set_purchase_status(&mut tx, purchase_id, status.as_str(), payment_id, now)
        .await?;
    audit::record(
        &mut *tx,
        now,
        actor,
        "purchase.status",
        ("purchase", purchase_id),
        &serde_json::json!({ "status": status.as_str() }),
    )
    .await?;
    tx.commit().await?;
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
    let mut tx = app.store().begin_write().await?;
    app.store().lock_purchase(&mut tx, purchase_id).await?;
    let purchase = app
        .store()
        .purchase(&mut *tx, purchase_id)
        .await?
        .ok_or_else(|| Error::new(ErrorCode::NotFound, "no such purchase"))?;
    if purchase.fulfilled_at.is_some() {
        return Ok(Fulfilment::AlreadyDone);
    }
    if purchase.status != PurchaseStatus::Completed.as_str() {
        return Ok(Fulfilment::NotPaid);
    }
    let flags = match &purchase.provider_payment_id {
        Some(payment) => {
            app.store()
                .payment_flags(&mut tx, &purchase.provider, payment)
                .await?
        }
        None => None,
    };
    if flags.is_some_and(|f| f.refunded_at.is_some()) {
        app.store()
            .set_purchase_status(
                &mut tx,
                &purchase.id,
                PurchaseStatus::Refunded.as_str(),
                None,
                now,
            )
            .await?;
        audit::record(
            &mut *tx,
            now,
            actor,
            "purchase.refunded_before_fulfilment",
            ("purchase", &purchase.id),
            &serde_json::json!({}),
        )
        .await?;
        tx.commit().await?;
        return Ok(Fulfilment::Refunded);
    }

    let slugs = parse_list(&purchase.products);
    if slugs.is_empty() {
        return Err(Error::new(
            ErrorCode::InvalidRequest,
            "the purchase names no product",
        ));
    }
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
        match licet_proto::admin::ProductKind::parse(&product.kind).unwrap_or_default() {
            ProductKind::License => {
                let expires_at = product.license_duration_secs.map(|d| now.saturating_add(d));
                catalogue::mint_license(
                    app,
                    &mut tx,
                    actor,
                    product,
                    &purchase.email,
                    expires_at,
                    Overrides::default(),
                    Some(&purchase.id),
                    now,
                )
                .await?;
            }
            ProductKind::Access => {
                app.store()
                    .grant_access(
                        &mut tx,
                        &new_id("acc"),
                        &purchase.id,
                        &product.id,
                        &purchase.email,
                        now,
                    )
                    .await?;
            }
            ProductKind::Download => {}
        }
    }
    let keys = app.store().keys_of_purchase(&mut tx, &purchase.id).await?;
    let links = downloads::mint_links(app, &mut tx, &purchase, now).await?;
    let message = mail::delivery(app, &purchase, &products, &keys, &links, now);
    app.store().enqueue_mail(&mut tx, &message).await?;
    app.store()
        .mark_fulfilled(&mut tx, &purchase.id, now)
        .await?;
    if flags.is_some_and(|f| f.dispute == Some(DisputeStatus::Open)) {
        // The dispute arrived first: the purchase starts out as it would be had the dispute
        // come after it (disputed, licenses suspended, downloads closed), and a dispute
        // closed in the vendor's favour reinstates it the usual way.
        app.store()
            .set_purchase_status(
                &mut tx,
                &purchase.id,
                PurchaseStatus::Disputed.as_str(),
                None,
                now,
            )
            .await?;
        let suspended = app
            .store()
            .set_purchase_license_status(&mut tx, &purchase.id, &["ACTIVE"], "SUSPENDED", now)
            .await?;
        audit::record(
            &mut *tx,
            now,
            actor,
            "purchase.disputed_before_fulfilment",
            ("purchase", &purchase.id),
            &serde_json::json!({ "suspended_licenses": suspended }),
        )
        .await?;
    }
    audit::record(
        &mut *tx,
        now,
        actor,
        "purchase.fulfilled",
        ("purchase", &purchase.id),
        &serde_json::json!({ "licenses": keys.len() }),
    )
    .await?;
    tx.commit().await?;
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
        .purchase(app.store().pool(), purchase_id)
        .await?
        .ok_or_else(|| Error::new(ErrorCode::NotFound, "no such purchase"))?;
    let mut conn = app.store().pool().acquire().await?;
    let licenses = app.store().licenses_of_purchase(&mut conn, &row.id).await?;
    Ok(view(row, licenses.into_iter().map(|(id, _)| id).collect()))
}

/// Purchases matching a filter.
pub async fn list(app: &impl Context, filter: &PurchaseFilter) -> Result<Vec<Purchase>> {
    Ok(app
        .store()
        .purchases(filter)
        .await?
        .into_iter()
        .map(|r| view(r, Vec::new()))
        .collect())
}

fn view(r: PurchaseRow, licenses: Vec<String>) -> Purchase {
    Purchase {
        status: PurchaseStatus::parse(&r.status).unwrap_or(PurchaseStatus::Pending),
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
    }
}

/// The purchase of a provider payment, locked until `tx` ends and read after the lock, so
/// decisions on its status cannot race another event for the same payment.
async fn locked_purchase_of_payment(
    app: &impl Context,
    tx: &mut sqlx::AnyConnection,
    provider: &str,
    payment_id: &str,
) -> Result<Option<PurchaseRow>> {
    let Some(found) = app
        .store()
        .purchase_by_provider(&mut *tx, provider, None, Some(payment_id))
        .await?
    else {
        return Ok(None);
    };
    app.store().lock_purchase(tx, &found.id).await?;
    Ok(app.store().purchase(&mut *tx, &found.id).await?)
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
    let mut tx = app.store().begin_write().await?;
    app.store()
        .flag_payment(&mut tx, provider, payment_id, Some(now), None)
        .await?;
    if let Some(p) = locked_purchase_of_payment(app, &mut tx, provider, payment_id).await? {
        app.store()
            .set_purchase_status(&mut tx, &p.id, PurchaseStatus::Refunded.as_str(), None, now)
            .await?;
        let revoked = app
            .store()
            .set_purchase_license_status(&mut tx, &p.id, &["ACTIVE", "SUSPENDED"], "REVOKED", now)
            .await?;
        app.store()
            .set_access_revoked(&mut tx, &p.id, Some(now))
            .await?;
        audit::record(
            &mut *tx,
            now,
            actor,
            "purchase.refunded",
            ("purchase", &p.id),
            &serde_json::json!({ "revoked_licenses": revoked }),
        )
        .await?;
    }
    tx.commit().await?;
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
    let mut tx = app.store().begin_write().await?;
    app.store()
        .flag_payment(
            &mut tx,
            provider,
            payment_id,
            None,
            Some((now, DisputeStatus::Open)),
        )
        .await?;
    let still_open = app
        .store()
        .payment_flags(&mut tx, provider, payment_id)
        .await?
        .is_some_and(|f| f.dispute == Some(DisputeStatus::Open));
    if still_open
        && let Some(p) = locked_purchase_of_payment(app, &mut tx, provider, payment_id).await?
        && p.status == PurchaseStatus::Completed.as_str()
    {
        app.store()
            .set_purchase_status(&mut tx, &p.id, PurchaseStatus::Disputed.as_str(), None, now)
            .await?;
        let suspended = app
            .store()
            .set_purchase_license_status(&mut tx, &p.id, &["ACTIVE"], "SUSPENDED", now)
            .await?;
        audit::record(
            &mut *tx,
            now,
            actor,
            "purchase.disputed",
            ("purchase", &p.id),
            &serde_json::json!({ "suspended_licenses": suspended }),
        )
        .await?;
    }
    tx.commit().await?;
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
    let status = if won {
        DisputeStatus::Won
    } else {
        DisputeStatus::Lost
    };
    let mut tx = app.store().begin_write().await?;
    app.store()
        .flag_payment(&mut tx, provider, payment_id, None, Some((now, status)))
        .await?;
    if !won {
        tx.commit().await?;
        return refund(app, actor, provider, payment_id).await;
    }
    if let Some(p) = locked_purchase_of_payment(app, &mut tx, provider, payment_id).await?
        && p.status == PurchaseStatus::Disputed.as_str()
    {
        app.store()
            .set_purchase_status(
                &mut tx,
                &p.id,
                PurchaseStatus::Completed.as_str(),
                None,
                now,
            )
            .await?;
        let reinstated = app
            .store()
            .set_purchase_license_status(&mut tx, &p.id, &["SUSPENDED"], "ACTIVE", now)
            .await?;
        audit::record(
            &mut *tx,
            now,
            actor,
            "purchase.dispute_won",
            ("purchase", &p.id),
            &serde_json::json!({ "reinstated_licenses": reinstated }),
        )
        .await?;
    }
    tx.commit().await?;
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
