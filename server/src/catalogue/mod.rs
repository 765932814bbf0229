//! The vendor's operations on products and licenses (admin API and CLI share them).
//! Every change is written to the audit log in the same transaction.

pub(crate) mod access;
mod actions;
mod checks;
pub mod trials;
mod wire;

/// What the catalogue needs: what licensing needs (it mints keys and reads seats).
pub trait Context: crate::licensing::Context {}

impl<T: crate::licensing::Context> Context for T {}

pub use checks::check_email;
use checks::*;

use licet_proto::admin::{
    CreateProduct, ExtendLicense, IssueLicense, License, Product, UpdateLicense, UpdateProduct,
};
use licet_proto::trials::TrialPolicy;
use licet_proto::{ErrorCode, LicenseStatus};

use crate::auth::{Actor, Admin};
use crate::licensing::keys::KeyFormat;
use crate::platform::crypto::new_id;
use crate::platform::error::{Error, Result};
use crate::store::{LicenseFilter, LicenseRow, NewAudit, NewLicense, ProductRow, json_list};

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
    let (trial_secs, trial_entitlements) = trial_columns(req.trial.as_ref())?;
    check_grace(req.subscription_grace_secs)?;
    let billing_portal_url = check_portal_url(req.billing_portal_url)?;
    check_maintenance(req.maintenance_secs)?;
    let (floating_lease_secs, floating_max_borrow_secs) = floating_columns(req.floating.as_ref())?;
    let now = app.now();
    let row = ProductRow {
        id: new_id("prd"),
        slug: req.slug,
        name: req.name.trim().to_owned(),
        kind: req.kind,
        max_activations: i64::from(req.max_activations),
        license_duration_secs: req.license_duration_secs,
        token_lifetime_secs: req.token_lifetime_secs,
        entitlements: json_list(&req.entitlements),
        metadata,
        stripe_price_ids: json_list(&req.stripe_price_ids),
        download_limit: i64::from(req.download_limit),
        trial_secs,
        trial_entitlements,
        subscription_grace_secs: req.subscription_grace_secs,
        billing_portal_url,
        maintenance_secs: req.maintenance_secs,
        trial_updates: i64::from(req.trial_updates),
        floating_lease_secs,
        floating_max_borrow_secs,
        created_at: now,
        updated_at: now,
    };
    let audit = NewAudit::new(
        now,
        actor,
        "product.created",
        ("product", &row.id),
        serde_json::json!({ "slug": row.slug }),
    );
    if !app.store().create_product(&row, &audit).await? {
        return Err(Error::new(
            ErrorCode::Conflict,
            format!("a product with slug {:?} exists", row.slug),
        ));
    }
    Ok(row.to_wire())
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
    if let Some(trial) = req.trial {
        (row.trial_secs, row.trial_entitlements) = trial_columns(trial.as_ref())?;
    }
    if let Some(grace) = req.subscription_grace_secs {
        check_grace(grace)?;
        row.subscription_grace_secs = grace;
    }
    if let Some(url) = req.billing_portal_url {
        row.billing_portal_url = check_portal_url(url)?;
    }
    if let Some(maintenance) = req.maintenance_secs {
        check_maintenance(maintenance)?;
        row.maintenance_secs = maintenance;
    }
    if let Some(trial_updates) = req.trial_updates {
        row.trial_updates = i64::from(trial_updates);
    }
    if let Some(floating) = req.floating {
        (row.floating_lease_secs, row.floating_max_borrow_secs) =
            floating_columns(floating.as_ref())?;
    }
    let now = app.now();
    row.updated_at = now;
    let audit = NewAudit::new(
        now,
        actor,
        "product.updated",
        ("product", &row.id),
        serde_json::json!({ "slug": row.slug }),
    );
    app.store().save_product(&row, &audit).await?;
    Ok(row.to_wire())
}

/// The stored columns of a trial policy (`None`: no trial), checked.
fn trial_columns(trial: Option<&TrialPolicy>) -> Result<(Option<i64>, Option<String>)> {
    let Some(t) = trial else {
        return Ok((None, None));
    };
    check_trial_duration(t.duration_secs)?;
    if let Some(ent) = &t.entitlements {
        check_entitlements(ent)?;
    }
    Ok((
        Some(t.duration_secs),
        t.entitlements.as_deref().map(json_list),
    ))
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
    let metadata = req
        .metadata
        .as_ref()
        .map(check_license_metadata)
        .transpose()?;
    let now = app.now();
    let expires_at = req
        .expires_at
        .or_else(|| product.license_duration_secs.map(|d| now.saturating_add(d)));
    let email = req.email.trim().to_owned();
    let overrides = Overrides {
        max_activations: req.max_activations.map(i64::from),
        token_lifetime_secs: req.token_lifetime_secs,
        entitlements: req.entitlements.as_deref().map(json_list),
        metadata,
        updates_until: req.updates_until,
    };
    let id = new_id("lic");
    let minted = MintedLicense::new(
        &id, actor, &product, &email, expires_at, overrides, None, now,
    );
    let row = app
        .store()
        .issue_license(&minted.license, key_generator(app, &product), &minted.audit)
        .await?
        .ok_or_else(no_unique_key)?;
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
    /// The vendor's metadata (JSON object of strings); none when `None`.
    pub metadata: Option<String>,
    /// End of updates; default: issue + the product's maintenance period, if it has one.
    pub updates_until: Option<i64>,
}

/// A license to mint with its audit entry (admin issue and purchase fulfilment share it).
pub struct MintedLicense<'a> {
    /// The license to insert.
    pub license: NewLicense<'a>,
    /// Its `license.issued` audit entry.
    pub audit: NewAudit,
}

impl<'a> MintedLicense<'a> {
    /// The license `id` of `product` for `email`, by `actor`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: &'a str,
        actor: &str,
        product: &'a ProductRow,
        email: &'a str,
        expires_at: Option<i64>,
        overrides: Overrides,
        purchase_id: Option<&'a str>,
        now: i64,
    ) -> Self {
        let audit = NewAudit::new(
            now,
            actor,
            "license.issued",
            ("license", id),
            serde_json::json!({ "product": product.slug, "email": email, "expires_at": expires_at, "purchase_id": purchase_id }),
        );
        Self {
            license: NewLicense {
                id,
                product_id: &product.id,
                email,
                expires_at,
                max_activations: overrides.max_activations,
                token_lifetime_secs: overrides.token_lifetime_secs,
                entitlements: overrides.entitlements,
                metadata: overrides.metadata.unwrap_or_else(|| "{}".to_owned()),
                updates_until: overrides
                    .updates_until
                    .or_else(|| product.maintenance_secs.map(|m| now.saturating_add(m))),
                purchase_id,
                now,
            },
            audit,
        }
    }
}

/// Fresh license keys in the product's format (the store tries them until one is free).
pub fn key_generator<'a, C: Context>(
    app: &'a C,
    product: &ProductRow,
) -> impl FnMut() -> String + Send + use<'a, C> {
    let prefix = KeyFormat::prefix_for(&product.slug);
    move || app.key_format().generate(&prefix)
}

/// Every key tried was taken (100 random bits each: practically impossible).
pub fn no_unique_key() -> Error {
    Error::Internal("could not mint a unique license key".into())
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
    let ids = app.store().licenses_of_purchase(purchase_id).await?;
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
    let found = app
        .store()
        .change_license_status(&row.id, now, |current| {
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
            if to == from {
                return Ok(None);
            }
            let action = match to {
                LicenseStatus::Active => "license.reinstated",
                LicenseStatus::Suspended => "license.suspended",
                LicenseStatus::Revoked => "license.revoked",
            };
            let audit = NewAudit::new(
                now,
                actor,
                action,
                ("license", &current.id),
                serde_json::json!({ "from": from.as_str() }),
            );
            Ok(Some((to, audit)))
        })
        .await?;
    if !found {
        return Err(Error::new(
            ErrorCode::NotFound,
            "no license with that id or key",
        ));
    }
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
    let audit = NewAudit::new(
        now,
        actor,
        "license.expiry_changed",
        ("license", &row.id),
        serde_json::json!({ "from": row.expires_at, "to": req.expires_at }),
    );
    app.store()
        .extend_license(&row.id, req.expires_at, now, &audit)
        .await?;
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
    if let Some(metadata) = &req.metadata {
        row.metadata = check_license_metadata(metadata)?;
    }
    if let Some(until) = req.updates_until {
        row.updates_until_at = until;
    }
    let now = app.now();
    let audit = NewAudit::new(
        now,
        actor,
        "license.updated",
        ("license", &row.id),
        serde_json::json!({}),
    );
    app.store().update_license(&row, now, &audit).await?;
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
    let found = app
        .store()
        .remove_activation(
            &row.license_key,
            &row.id,
            activation_id,
            now,
            |activation| {
                NewAudit::new(
                    now,
                    actor,
                    "activation.removed",
                    ("activation", &activation.id),
                    serde_json::json!({ "license_id": row.id }),
                )
            },
        )
        .await?;
    if !found {
        return Err(Error::new(
            ErrorCode::NotFound,
            "no such activation on this license",
        ));
    }
    show_license(app, &row.id).await
}
