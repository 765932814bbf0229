//! What a customer's license covers, for the portal: the published releases it may
//! download (every channel), each platform's file behind a short-lived signed link, and the
//! newer releases a renewal would unlock.
//!
//! The rule is the update check's ([`Terms::refusal`]) over the replica's release cache,
//! so the portal never offers what the app's update check would refuse.

use licet_proto::LicenseStatus;
use licet_proto::admin::License;

use super::Context;
use super::catalog::{Catalog, Published, Terms};
use super::links::artifact_url;
use crate::platform::error::Result;

/// How long a portal download link works, in seconds.
pub const PORTAL_URL_SECS: i64 = 3600;

/// What one license covers.
#[derive(Debug, Clone)]
pub struct Coverage {
    /// The releases it may download, newest version first (empty while `blocked`).
    pub releases: Vec<CoveredRelease>,
    /// Newer releases its updates ended before, which renewing would unlock.
    pub renewal: Option<Renewal>,
    /// Why it may download nothing now (suspended, revoked, expired), if so.
    pub blocked: Option<&'static str>,
}

/// A release a license covers.
#[derive(Debug, Clone)]
pub struct CoveredRelease {
    /// Semantic version.
    pub version: String,
    /// Channel it was published on.
    pub channel: String,
    /// Release notes (Markdown, shown as text).
    pub notes: String,
    /// Unix seconds.
    pub published_at: i64,
    /// One file per platform.
    pub downloads: Vec<Download>,
}

/// One platform's file of a covered release.
#[derive(Debug, Clone)]
pub struct Download {
    /// `os-arch`.
    pub platform: String,
    /// The file's name.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// SHA-256, lower-case hex, for the customer to check the file against.
    pub sha256: String,
    /// Signed download URL, valid for [`PORTAL_URL_SECS`].
    pub url: String,
}

/// The newer releases a renewal would unlock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renewal {
    /// The newest of them.
    pub version: String,
    /// Its publish date, Unix seconds.
    pub published_at: i64,
    /// How many releases renewing would unlock (the newest included).
    pub count: usize,
}

/// What `license` covers; `None` when its product has no published release.
pub async fn coverage(app: &impl Context, license: &License) -> Result<Option<Coverage>> {
    let Some(catalog) = app
        .release_cache()
        .get(app.store(), &license.product)
        .await?
    else {
        return Ok(None);
    };
    if catalog.releases.is_empty() {
        return Ok(None);
    }
    let now = app.now();
    let (covered, renewal) = split(&catalog, license);
    let blocked = blocked(license, now);
    let expires = now.saturating_add(PORTAL_URL_SECS);
    let releases = if blocked.is_some() {
        Vec::new()
    } else {
        covered
            .into_iter()
            .map(|p| CoveredRelease {
                version: p.release.version.clone(),
                channel: p.release.channel.clone(),
                notes: p.release.notes.clone(),
                published_at: p.published_at(),
                downloads: p
                    .artifacts
                    .iter()
                    .map(|a| Download {
                        platform: a.platform.clone(),
                        name: a.name.clone(),
                        size: u64::try_from(a.size).unwrap_or(0),
                        sha256: a.sha256.clone(),
                        url: artifact_url(app, &a.id, expires),
                    })
                    .collect(),
            })
            .collect()
    };
    // A suspended or revoked license is not renewed: it is told nothing about renewing.
    let renewal = renewal.filter(|_| license.status == LicenseStatus::Active);
    Ok(Some(Coverage {
        releases,
        renewal,
        blocked,
    }))
}

/// Why a license may download nothing now: the update check's refusals.
fn blocked(license: &License, now: i64) -> Option<&'static str> {
    match license.status {
        LicenseStatus::Suspended => Some("This license is suspended."),
        LicenseStatus::Revoked => Some("This license has been revoked."),
        LicenseStatus::Active => license
            .expires_at
            .filter(|exp| now >= *exp)
            .map(|_| "This license has expired."),
    }
}

/// The releases `license` covers (newest version first), and the newer ones only its end
/// of updates keeps from it. A release that also needs an entitlement the license lacks is
/// not one a renewal unlocks; nor is one older than what the license already has.
fn split<'a>(catalog: &'a Catalog, license: &License) -> (Vec<&'a Published>, Option<Renewal>) {
    let terms = Terms {
        updates_until: license.updates_until,
        entitlements: &license.entitlements,
        trial_excluded: false,
    };
    let renewed = Terms {
        updates_until: None,
        ..terms
    };
    let covered: Vec<&Published> = catalog
        .releases
        .iter()
        .filter(|p| terms.refusal(p).is_none())
        .collect();
    let newest_covered = covered.first().map(|p| &p.version);
    let unlocked: Vec<&Published> = catalog
        .releases
        .iter()
        .filter(|p| terms.refusal(p).is_some() && renewed.refusal(p).is_none())
        .filter(|p| newest_covered.is_none_or(|v| p.version > *v))
        .collect();
    let renewal = unlocked.first().map(|newest| Renewal {
        version: newest.release.version.clone(),
        published_at: newest.published_at(),
        count: unlocked.len(),
    });
    (covered, renewal)
}
