//! The vendor's operations on products and licenses (admin API and CLI share them).
//! Every change is written to the audit log in the same transaction.

pub(crate) mod access;
mod actions;
mod checks;
mod wire;

/// What the catalogue needs: what licensing needs (it mints keys and reads seats).
pub trait Context: crate::licensing::Context {}

impl<T: crate::licensing::Context> Context for T {}

pub use checks::check_email;
use checks::*;

use licet_proto::admin::{
    CreateProduct, ExtendLicense, IssueLicense, License, Product, UpdateLicense, UpdateProduct,
};
use licet_proto::{ErrorCode, LicenseStatus};

use crate::auth::{Actor, Admin};
use crate::licensing::keys::KeyFormat;
use crate::platform::crypto::new_id;
use crate::platform::error::{Error, Result};
use crate::store::{LicenseFilter, LicenseRow, NewLicense, ProductRow, audit, json_list};

const MAX_SEATS: u32 = 100_000;
const MIN_TOKEN_LIFETIME: i64 = 60;
const MAX_TOKEN_LIFETIME: i64 = 366 * 24 * 3600;
const MAX_ENTITLEMENTS: usize = 100;
const MAX_METADATA_BYTES: usize = 8 * 1024;

/// Creates a product.
pub async fn create_product(
    app: &impl Context,
    admin: &Admin,
    req: CreateProduct,
) -> Result<Product> {
    let actor = admin.actor();
    check_slug(&req.slug)?;
    check_name(&req.name)?;
    check_seats(req.max_activations)?;
    check_duration(req.license_duration_secs)?;
    check_token_lifetime(req.token_lifetime_secs)?;
    check_entitlements(&req.entitlements)?;
    check_price_ids(&req.stripe_price_ids)?;
    let metadata = check_metadata(&req.metadata)?;
    let now = app.now();
    let row = ProductRow {
        id: new_id("prd"),
        slug: req.slug,
        name: req.name.trim().to_owned(),
        kind: req.kind.as_str().to_owned(),
        max_activations: i64::from(req.max_activations),
        license_duration_secs: req.license_duration_secs,
        token_lifetime_secs: req.token_lifetime_secs,
        entitlements: json_list(&req.entitlements),
        metadata,
        stripe_price_ids: json_list(&req.stripe_price_ids),
        download_limit: i64::from(req.download_limit),
        created_at: now,
        updated_at: now,
    };
    let mut tx = app.store().begin_write().await?;
    if !app.store().insert_product(&mut tx, &row).await? {
        return Err(Error::new(
            ErrorCode::Conflict,
            format!("a product with slug {:?} exists", row.slug),
        ));
    }
    audit::record(
        &mut *tx,
        now,
        actor,
        "product.created",
        ("product", &row.id),
        &serde_json::json!({ "slug": row.slug }),
    )
    .await?;
    tx.commit().await?;
    Ok(row.view())
}

/// Changes a product's policy; licenses without overrides follow it.
pub async fn update_product(
    app: &impl Context,
    admin: &Admin,
    slug: &str,
    req: UpdateProduct,
) -> Result<Product> {
    let actor = admin.actor();
    let mut row = product(app, slug).await?;
    if let Some(name) = req.name {
        check_name(&name)?;
        row.name = name.trim().to_owned();
    }
    if let Some(seats) = req.max_activations {
        check_seats(seats)?;
        row.max_activations = i64::from(seats);
    }
    if let Some(duration) = req.license_duration_secs {
        check_duration(duration)?;
        row.license_duration_secs = duration;
    }
    if let Some(lifetime) = req.token_lifetime_secs {
        check_token_lifetime(lifetime)?;
        row.token_lifetime_secs = lifetime;
    }
    if let Some(ent) = req.entitlements {
        check_entitlements(&ent)?;
        row.entitlements = json_list(&ent);
    }
    if let Some(meta) = req.metadata {
        row.metadata = check_metadata(&meta)?;
    }
    if let Some(prices) = req.stripe_price_ids {
        check_price_ids(&prices)?;
        row.stripe_price_ids = json_list(&prices);
    }
    if let Some(limit) = req.download_limit {
        row.download_limit = i64::from(limit);
    }
    let now = app.now();
    row.updated_at = now;
    let mut tx = app.store().begin_write().await?;
    app.store().update_product(&mut tx, &row).await?;
    audit::record(
        &mut *tx,
        now,
        actor,
        "product.updated",
        ("product", &row.id),
        &serde_json::json!({ "slug": row.slug }),
    )
    .await?;
    tx.commit().await?;
    Ok(row.view())
}

/// One product by slug (`NOT_FOUND` otherwise).
pub async fn product(app: &impl Context, slug: &str) -> Result<ProductRow> {
    app.store().product_by_slug(slug).await?.ok_or_else(|| {
        Error::new(
            ErrorCode::NotFound,
            format!("no product with slug {slug:?}"),
        )
    })
}

/// Issues a license for a product.
pub async fn issue_license(
    app: &impl Context,
    admin: &Admin,
    req: IssueLicense,
) -> Result<License> {
    let actor = admin.actor();
    let product = product(app, &req.product).await?;
    check_email(&req.email)?;
    if let Some(seats) = req.max_activations {
        check_seats(seats)?;
    }
    if let Some(lifetime) = req.token_lifetime_secs {
        check_token_lifetime(lifetime)?;
    }
    if let Some(ent) = &req.entitlements {
        check_entitlements(ent)?;
    }
    let now = app.now();
    let expires_at = req
        .expires_at
        .or_else(|| product.license_duration_secs.map(|d| now.saturating_add(d)));
    let email = req.email.trim().to_owned();
    let mut tx = app.store().begin_write().await?;
    let overrides = Overrides {
        max_activations: req.max_activations.map(i64::from),
        token_lifetime_secs: req.token_lifetime_secs,
        entitlements: req.entitlements.as_deref().map(json_list),
    };
    let id = mint_license(
        app, &mut tx, actor, &product, &email, expires_at, overrides, None, now,
    )
    .await?;
    let row = app
        .store()
        .license_by_id_in(&mut tx, &id)
        .await?
        .ok_or_else(|| Error::Internal("issued license vanished".into()))?;
    tx.commit().await?;
    Ok(row.admin_view(Some(Vec::new())))
}

/// Per-license policy overrides at issue time.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Seats.
    pub max_activations: Option<i64>,
    /// Offline-token lifetime.
    pub token_lifetime_secs: Option<i64>,
    /// Entitlements (JSON list).
    pub entitlements: Option<String>,
}

/// Mints a license inside the caller's transaction (admin issue and purchase fulfilment
/// share it) and audits it; returns the new license's id.
#[allow(clippy::too_many_arguments)]
pub async fn mint_license(
    app: &impl Context,
    tx: &mut sqlx::AnyConnection,
    actor: &str,
    product: &ProductRow,
    email: &str,
    expires_at: Option<i64>,
    overrides: Overrides,
    purchase_id: Option<&str>,
    now: i64,
) -> Result<String> {
    let prefix = KeyFormat::prefix_for(&product.slug);
    let id = new_id("lic");
    // 100 random bits make a collision practically impossible; the loop makes it certain.
    let mut attempts = 0;
    loop {
        let key = app.key_format().generate(&prefix);
        let new = NewLicense {
            id: &id,
            key: &key,
            product_id: &product.id,
            email,
            expires_at,
            max_activations: overrides.max_activations,
            token_lifetime_secs: overrides.token_lifetime_secs,
            entitlements: overrides.entitlements.clone(),
            purchase_id,
            now,
        };
        if app.store().insert_license(tx, &new).await? {
            break;
        }
        attempts += 1;
        if attempts > 5 {
            return Err(Error::Internal(
                "could not mint a unique license key".into(),
            ));
        }
    }
    audit::record(
        &mut *tx,
        now,
        actor,
        "license.issued",
        ("license", &id),
        &serde_json::json!({ "product": product.slug, "email": email, "expires_at": expires_at, "purchase_id": purchase_id }),
    )
    .await?;
    Ok(id)
}

/// Finds a license by id or by key.
pub async fn find_license(app: &impl Context, id_or_key: &str) -> Result<LicenseRow> {
    let found = if id_or_key.starts_with("lic_") {
        app.store().license_by_id(id_or_key).await?
    } else {
        match app.key_format().parse(id_or_key) {
            Some(key) => app.store().license_by_key(&key).await?,
            None => None,
        }
    };
    found.ok_or_else(|| Error::new(ErrorCode::NotFound, "no license with that id or key"))
}

/// One license with all its activations.
pub async fn show_license(app: &impl Context, id_or_key: &str) -> Result<License> {
    let row = find_license(app, id_or_key).await?;
    let activations = app.store().activations_of(&row.id).await?;
    Ok(row.admin_view(Some(activations.iter().map(|a| a.info()).collect())))
}

/// The licenses a purchase minted, each with its activations.
pub async fn licenses_of_purchase(app: &impl Context, purchase_id: &str) -> Result<Vec<License>> {
    let mut conn = app.store().pool().acquire().await?;
    let ids = app
        .store()
        .licenses_of_purchase(&mut conn, purchase_id)
        .await?;
    drop(conn);
    let mut licenses = Vec::with_capacity(ids.len());
    for (id, _) in ids {
        licenses.push(show_license(app, &id).await?);
    }
    Ok(licenses)
}

/// Licenses matching a filter.
pub async fn list_licenses(app: &impl Context, filter: LicenseFilter) -> Result<Vec<License>> {
    let rows = app.store().licenses(&filter).await?;
    Ok(rows.iter().map(|r| r.admin_view(None)).collect())
}

/// A status change requested by the vendor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusChange {
    /// ACTIVE → SUSPENDED.
    Suspend,
    /// SUSPENDED → ACTIVE.
    Reinstate,
    /// ACTIVE or SUSPENDED → REVOKED (final).
    Revoke,
}

/// Suspends, reinstates or revokes. Revocation is final; repeating a change is a no-op.
pub async fn change_status(
    app: &impl Context,
    admin: &Admin,
    id_or_key: &str,
    change: StatusChange,
) -> Result<License> {
    let actor = admin.actor();
    let row = find_license(app, id_or_key).await?;
    let now = app.now();
    let mut tx = app.store().begin_write().await?;
    let current = app
        .store()
        .license_by_id_in(&mut tx, &row.id)
        .await?
        .ok_or_else(|| Error::new(ErrorCode::NotFound, "no license with that id or key"))?;
    let from = current.status();
    let to = match (change, from) {
        (StatusChange::Suspend, LicenseStatus::Active | LicenseStatus::Suspended) => {
            LicenseStatus::Suspended
        }
        (StatusChange::Reinstate, LicenseStatus::Suspended | LicenseStatus::Active) => {
            LicenseStatus::Active
        }
        (StatusChange::Revoke, _) => LicenseStatus::Revoked,
        (_, LicenseStatus::Revoked) => {
            return Err(Error::new(
                ErrorCode::Conflict,
                "a revoked license cannot change status",
            ));
        }
    };
    if to != from {
        app.store()
            .set_license_status(&mut tx, &row.id, to.as_str(), now)
            .await?;
        let action = match to {
            LicenseStatus::Active => "license.reinstated",
            LicenseStatus::Suspended => "license.suspended",
            LicenseStatus::Revoked => "license.revoked",
        };
        audit::record(
            &mut *tx,
            now,
            actor,
            action,
            ("license", &row.id),
            &serde_json::json!({ "from": from.as_str() }),
        )
        .await?;
    }
    tx.commit().await?;
    show_license(app, &row.id).await
}

/// Sets a new expiry (or none).
pub async fn extend(
    app: &impl Context,
    admin: &Admin,
    id_or_key: &str,
    req: ExtendLicense,
) -> Result<License> {
    let actor = admin.actor();
    let row = find_license(app, id_or_key).await?;
    let now = app.now();
    let mut tx = app.store().begin_write().await?;
    app.store()
        .set_license_expiry(&mut tx, &row.id, req.expires_at, now)
        .await?;
    audit::record(
        &mut *tx,
        now,
        actor,
        "license.expiry_changed",
        ("license", &row.id),
        &serde_json::json!({ "from": row.expires_at, "to": req.expires_at }),
    )
    .await?;
    tx.commit().await?;
    show_license(app, &row.id).await
}

/// Changes per-license overrides or the email.
pub async fn update_license(
    app: &impl Context,
    admin: &Admin,
    id_or_key: &str,
    req: UpdateLicense,
) -> Result<License> {
    let actor = admin.actor();
    let mut row = find_license(app, id_or_key).await?;
    if let Some(seats) = req.max_activations {
        if let Some(s) = seats {
            check_seats(s)?;
        }
        row.max_activations = seats.map(i64::from);
    }
    if let Some(lifetime) = req.token_lifetime_secs {
        if let Some(l) = lifetime {
            check_token_lifetime(l)?;
        }
        row.token_lifetime_secs = lifetime;
    }
    if let Some(ent) = req.entitlements {
        if let Some(e) = &ent {
            check_entitlements(e)?;
        }
        row.entitlements = ent.as_deref().map(json_list);
    }
    if let Some(email) = req.email {
        check_email(&email)?;
        row.email = email.trim().to_owned();
    }
    let now = app.now();
    let mut tx = app.store().begin_write().await?;
    app.store()
        .update_license_overrides(&mut tx, &row, now)
        .await?;
    audit::record(
        &mut *tx,
        now,
        actor,
        "license.updated",
        ("license", &row.id),
        &serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    show_license(app, &row.id).await
}

/// Ends one activation (the support desk freeing a seat).
pub async fn remove_activation(
    app: &impl Context,
    actor: Actor<'_>,
    id_or_key: &str,
    activation_id: &str,
) -> Result<License> {
    let actor = actor.audit_name();
    let actor = actor.as_ref();
    let row = find_license(app, id_or_key).await?;
    let now = app.now();
    let mut tx = app.store().begin_write().await?;
    app.store().lock_license(&mut tx, &row.license_key).await?;
    let activation = app
        .store()
        .activation_in(&mut tx, &row.id, activation_id)
        .await?
        .ok_or_else(|| Error::new(ErrorCode::NotFound, "no such activation on this license"))?;
    if app.store().deactivate(&mut tx, &activation.id, now).await? {
        audit::record(
            &mut *tx,
            now,
            actor,
            "activation.removed",
            ("activation", &activation.id),
            &serde_json::json!({ "license_id": row.id }),
        )
        .await?;
    }
    tx.commit().await?;
    show_license(app, &row.id).await
}
