//! The update check: who is asking, what they may have, and the signed answer.
//!
//! A caller proves its license one of two ways:
//! - **its current lease** as `Authorization: Bearer …`: the server verifies its own
//!   signature (remembered per token, see `KeyRing::verify_lease`) and reads the license's
//!   state, entitlements and end of updates from the lease, so no database is read. The
//!   lease is the license as of its signing: a license revoked since then keeps its update
//!   checks until the lease ends (at most its token lifetime), as it keeps working offline.
//! - **its license key and fingerprint** in the `Licet-License-Key` and `Licet-Fingerprint`
//!   headers: rate-limited like the license API, read fresh from the database, and the
//!   machine must hold a seat.

use std::sync::Arc;

use licet_proto::releases::{
    ArtifactInfo, DEFAULT_CHANNEL, MANIFEST_TYP, ManifestClaims, ManifestRelease, ReleaseInfo,
    TauriUpdate, UpdateResponse, UpdateStatus, parse_version, valid_channel, valid_platform,
};
use licet_proto::token::{Claims, Expectations, TokenError};
use licet_proto::{ErrorCode, LicenseKind, LicenseStatus};

use super::Context;
use super::catalog::{Catalog, Pick, Published, Terms, pick};
use super::links::{UPDATE_URL_SECS, artifact_url};
use crate::licensing::{Caller, admit, ensure_usable};
use crate::platform::error::{Error, Result};
use crate::store::ArtifactRow;

/// How a caller proves its license.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// The lease token it holds.
    Lease(String),
    /// Its license key and machine fingerprint.
    Key {
        /// License key.
        key: String,
        /// Machine fingerprint.
        fingerprint: String,
    },
}

/// What an update check asks.
#[derive(Debug, Clone)]
pub struct Check<'a> {
    /// Product slug.
    pub product: &'a str,
    /// `os-arch`.
    pub platform: &'a str,
    /// Channel (`None`: stable).
    pub channel: Option<&'a str>,
    /// The version the caller runs.
    pub version: &'a str,
}

/// The license (or trial) behind a check.
struct Holder {
    /// License or trial id (the manifest's `sub`).
    subject: String,
    fingerprint: String,
    updates_until: Option<i64>,
    entitlements: Vec<String>,
    kind: LicenseKind,
}

/// `GET /v1/releases/latest`: `None` when the caller is up to date.
pub async fn latest(
    app: &impl Context,
    caller: &Caller,
    credentials: Credentials,
    check: Check<'_>,
) -> Result<Option<UpdateResponse>> {
    let (catalog, holder, current, channel) = prepare(app, caller, credentials, &check).await?;
    let terms = terms_of(&catalog, &holder);
    let now = app.now();
    Ok(
        match pick(&catalog, channel, check.platform, &current, &terms, false)? {
            Pick::UpToDate => None,
            Pick::NotAllowed(newer) => Some(UpdateResponse {
                status: UpdateStatus::UpdateAvailableNotAllowed,
                release: None,
                artifact: None,
                manifest: None,
                newer_not_allowed: Some(newer),
            }),
            Pick::Offer {
                release,
                artifact,
                newer_not_allowed,
            } => {
                // On a one-minute grid, like leases: the same caller asking again within the
                // minute gets the same bytes, whose signature the key ring remembers.
                let iat = now - now.rem_euclid(60);
                let expires = iat + UPDATE_URL_SECS;
                let manifest = manifest(app, &catalog, &holder, release, artifact, iat, expires)?;
                Some(UpdateResponse {
                    status: UpdateStatus::UpdateAvailable,
                    release: Some(ReleaseInfo {
                        version: release.release.version.clone(),
                        channel: release.release.channel.clone(),
                        notes: release.release.notes.clone(),
                        published_at: release.published_at(),
                    }),
                    artifact: Some(ArtifactInfo {
                        platform: artifact.platform.clone(),
                        name: artifact.name.clone(),
                        size: u64::try_from(artifact.size).unwrap_or(0),
                        sha256: artifact.sha256.clone(),
                        signature: artifact.signature.clone(),
                        url: artifact_url(app, &artifact.id, expires),
                        url_expires_at: expires,
                    }),
                    manifest: Some(manifest),
                    newer_not_allowed,
                })
            }
        },
    )
}

/// The Tauri-shaped check (Tauri v2's dynamic update server): `None` (204) when up to date
/// or when the newer release is not the caller's. Only artifacts published with the
/// vendor's updater signature are offered, since Tauri refuses an update without one.
pub async fn tauri(
    app: &impl Context,
    caller: &Caller,
    credentials: Credentials,
    check: Check<'_>,
) -> Result<Option<TauriUpdate>> {
    let (catalog, holder, current, channel) = prepare(app, caller, credentials, &check).await?;
    let terms = terms_of(&catalog, &holder);
    let Pick::Offer {
        release, artifact, ..
    } = pick(&catalog, channel, check.platform, &current, &terms, true)?
    else {
        return Ok(None);
    };
    Ok(Some(TauriUpdate {
        version: release.release.version.clone(),
        notes: release.release.notes.clone(),
        pub_date: crate::platform::dates::rfc3339(release.published_at()),
        url: artifact_url(app, &artifact.id, app.now() + UPDATE_URL_SECS),
        signature: artifact.signature.clone().unwrap_or_default(),
    }))
}

/// Checks the request, authenticates the caller and loads the product's releases.
async fn prepare<'c>(
    app: &impl Context,
    caller: &Caller,
    credentials: Credentials,
    check: &Check<'c>,
) -> Result<(Arc<Catalog>, Holder, semver::Version, &'c str)> {
    let current = parse_version(check.version).ok_or_else(|| {
        Error::invalid("version must be a semantic version such as 1.2.0 or 2.0.0-beta.1")
    })?;
    if !valid_platform(check.platform) {
        return Err(Error::invalid(
            "platform must be os-arch, e.g. linux-x86_64, darwin-aarch64, windows-x86_64",
        ));
    }
    let channel = check.channel.unwrap_or(DEFAULT_CHANNEL);
    if !valid_channel(channel) {
        return Err(Error::invalid(
            "channel must be 1 to 32 lowercase letters, digits or '-'",
        ));
    }
    let holder = match credentials {
        Credentials::Lease(token) => by_lease(app, &token, check.product)?,
        Credentials::Key { key, fingerprint } => {
            by_key(app, caller, &key, &fingerprint, check.product).await?
        }
    };
    let catalog = app
        .release_cache()
        .get(app.store(), check.product)
        .await?
        .ok_or_else(|| {
            Error::new(
                ErrorCode::NotFound,
                format!("no product with slug {:?}", check.product),
            )
        })?;
    Ok((catalog, holder, current, channel))
}

fn terms_of<'h>(catalog: &Catalog, holder: &'h Holder) -> Terms<'h> {
    Terms {
        updates_until: holder.updates_until,
        entitlements: &holder.entitlements,
        trial_excluded: holder.kind == LicenseKind::Trial && catalog.product.trial_updates == 0,
    }
}

/// The lease's license, checked as an app checks it offline, plus its status.
fn by_lease(app: &impl Context, token: &str, product: &str) -> Result<Holder> {
    let unauthorized = |why: &str| Error::new(ErrorCode::Unauthorized, why.to_owned());
    let claims: Arc<Claims> = app
        .keys()
        .verify_lease(token)
        .map_err(|_| unauthorized("the lease is not one this server signed"))?;
    let expect = Expectations {
        audience: product,
        fingerprint: &claims.fpr,
        now: app.now(),
        leeway: 60,
    };
    claims.check(&expect).map_err(|e| match e {
        TokenError::LicenseExpired if claims.lic.kind == LicenseKind::Trial => {
            Error::new(ErrorCode::TrialExpired, "this trial has ended")
        }
        TokenError::LicenseExpired => {
            Error::new(ErrorCode::LicenseExpired, "this license has expired")
        }
        TokenError::WrongAudience => unauthorized("the lease is for another product"),
        TokenError::Expired => unauthorized("the lease has expired; validate to renew it"),
        _ => unauthorized("the lease is not valid"),
    })?;
    match claims.lic.status {
        LicenseStatus::Active => {}
        LicenseStatus::Suspended => {
            return Err(Error::new(
                ErrorCode::LicenseSuspended,
                "this license is suspended",
            ));
        }
        LicenseStatus::Revoked => {
            return Err(Error::new(
                ErrorCode::LicenseRevoked,
                "this license has been revoked",
            ));
        }
    }
    Ok(Holder {
        subject: claims.sub.clone(),
        fingerprint: claims.fpr.clone(),
        updates_until: claims.lic.effective_updates_until(),
        entitlements: claims.ent.clone(),
        kind: claims.lic.kind,
    })
}

/// The license of a key, read fresh; the machine must hold one of its seats.
async fn by_key(
    app: &impl Context,
    caller: &Caller,
    key: &str,
    fingerprint: &str,
    product: &str,
) -> Result<Holder> {
    let (now, key) = admit(app, caller, key, fingerprint).await?;
    let (license, activation) = app
        .store()
        .license_with_activation_now(&key, fingerprint)
        .await?
        .ok_or_else(|| Error::new(ErrorCode::LicenseNotFound, "no license with this key"))?
        .split(fingerprint);
    if license.product_slug != product {
        return Err(Error::new(
            ErrorCode::LicenseNotFound,
            "no license with this key for this product",
        ));
    }
    ensure_usable(&license, now)?;
    if activation.is_none() {
        return Err(Error::new(
            ErrorCode::NotActivated,
            "this machine is not activated on the license",
        ));
    }
    Ok(Holder {
        subject: license.id.clone(),
        fingerprint: fingerprint.to_owned(),
        updates_until: license.updates_until(),
        entitlements: license.effective_entitlements(),
        kind: LicenseKind::License,
    })
}

/// The signed manifest of `artifact` for `holder`, valid until `expires`.
fn manifest(
    app: &impl Context,
    catalog: &Catalog,
    holder: &Holder,
    release: &Published,
    artifact: &ArtifactRow,
    now: i64,
    expires: i64,
) -> Result<String> {
    let claims = ManifestClaims {
        iss: app.config().public_url.clone(),
        sub: holder.subject.clone(),
        aud: catalog.product.slug.clone(),
        fpr: holder.fingerprint.clone(),
        iat: now,
        nbf: now,
        exp: expires,
        rel: ManifestRelease {
            version: release.release.version.clone(),
            channel: release.release.channel.clone(),
            platform: artifact.platform.clone(),
            name: artifact.name.clone(),
            size: u64::try_from(artifact.size).unwrap_or(0),
            sha256: artifact.sha256.clone(),
        },
    };
    app.keys().sign_as(&claims, MANIFEST_TYP)
}
