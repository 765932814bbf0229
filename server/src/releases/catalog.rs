//! What a product has published, held in memory, and the rule that picks a caller's update.
//!
//! Update checks are the most frequent request an app makes and their answer changes only
//! when the vendor publishes or yanks, so each replica keeps every product's published
//! releases for [`CATALOG_TTL_SECS`] (dropped at once on this replica when the vendor
//! changes them here; other replicas see the change within the TTL). A check then reads
//! no database at all when it is authenticated by a lease.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use licet_proto::ErrorCode;
use licet_proto::releases::{NotAllowed, NotAllowedReason, parse_version};
use semver::Version;

use crate::platform::error::{Error, Result};
use crate::store::{ArtifactRow, ProductRow, ReleaseRow, Store};

/// How long a replica serves a product's releases from memory, in seconds.
pub const CATALOG_TTL_SECS: u64 = 5;

/// A published release with its parsed version.
#[derive(Debug, Clone)]
pub struct Published {
    /// The release.
    pub release: ReleaseRow,
    /// Its version, parsed.
    pub version: Version,
    /// Its files, one per platform.
    pub artifacts: Vec<ArtifactRow>,
}

impl Published {
    /// The publish date (a published release always has one).
    pub fn published_at(&self) -> i64 {
        self.release.published_at.unwrap_or(self.release.created_at)
    }
}

/// A product and its published releases, newest version first.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// The product.
    pub product: ProductRow,
    /// Published releases, newest version first.
    pub releases: Vec<Published>,
}

/// The per-replica memory of catalogues, by product slug (products that do not exist are
/// remembered too, so guessing slugs costs no database reads).
#[derive(Debug, Default)]
pub struct ReleaseCache {
    entries: RwLock<HashMap<String, Remembered>>,
}

/// When a catalogue was read, and what it was (`None`: no such product).
type Remembered = (std::time::Instant, Option<Arc<Catalog>>);

/// Slugs remembered at most (a full cache is emptied and refills).
const MAX_ENTRIES: usize = 10_000;

impl ReleaseCache {
    /// The catalogue of `slug` (`None`: no such product), from memory when fresh.
    pub async fn get(&self, store: &Store, slug: &str) -> Result<Option<Arc<Catalog>>> {
        if let Some((at, catalog)) = self
            .entries
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(slug)
            && at.elapsed().as_secs() < CATALOG_TTL_SECS
        {
            return Ok(catalog.clone());
        }
        let catalog = load(store, slug).await?.map(Arc::new);
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            slug.to_owned(),
            (std::time::Instant::now(), catalog.clone()),
        );
        Ok(catalog)
    }

    /// Forgets `slug` (after a publish, a yank or a product change on this replica).
    pub fn forget(&self, slug: &str) {
        self.entries
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(slug);
    }
}

async fn load(store: &Store, slug: &str) -> Result<Option<Catalog>> {
    let Some(product) = store.product_by_slug(slug).await? else {
        return Ok(None);
    };
    let mut releases: Vec<Published> = store
        .releases_of(&product.id, true)
        .await?
        .into_iter()
        .filter_map(|(release, artifacts)| {
            let version = parse_version(&release.version)?;
            Some(Published {
                release,
                version,
                artifacts,
            })
        })
        .collect();
    releases.sort_by(|a, b| b.version.cmp(&a.version));
    Ok(Some(Catalog { product, releases }))
}

/// What a caller is entitled to.
#[derive(Debug, Clone, Copy)]
pub struct Terms<'a> {
    /// Releases published until then (Unix seconds) are the caller's; `None`: all.
    pub updates_until: Option<i64>,
    /// The caller's entitlements.
    pub entitlements: &'a [String],
    /// The caller is on a trial of a product that gives trials no releases.
    pub trial_excluded: bool,
}

impl Terms<'_> {
    /// Why `release` is not the caller's, or `None` when it is.
    pub fn refusal(&self, release: &Published) -> Option<NotAllowed> {
        let refuse = |reason| NotAllowed {
            version: release.release.version.clone(),
            published_at: release.published_at(),
            reason,
            updates_until: None,
            entitlement: None,
        };
        if self.trial_excluded {
            return Some(refuse(NotAllowedReason::TrialExcluded));
        }
        if let Some(until) = self.updates_until
            && release.published_at() > until
        {
            return Some(NotAllowed {
                updates_until: Some(until),
                ..refuse(NotAllowedReason::UpdatesEnded)
            });
        }
        if let Some(needed) = &release.release.entitlement
            && !self.entitlements.iter().any(|e| e == needed)
        {
            return Some(NotAllowed {
                entitlement: Some(needed.clone()),
                ..refuse(NotAllowedReason::EntitlementRequired)
            });
        }
        None
    }
}

/// The answer to "is there something newer for me?".
#[derive(Debug)]
pub enum Pick<'a> {
    /// Nothing newer on the caller's channels and platform.
    UpToDate,
    /// The newest release the caller may have, and the newest newer one it may not.
    Offer {
        /// The release.
        release: &'a Published,
        /// Its file for the caller's platform.
        artifact: &'a ArtifactRow,
        /// A newer release the caller is not entitled to, if any.
        newer_not_allowed: Option<NotAllowed>,
    },
    /// Newer releases exist, none of them the caller's: the newest.
    NotAllowed(NotAllowed),
}

/// Picks the caller's update: among the published releases of `channel` (and of `stable`,
/// which every channel also follows) with a file for `platform`, newer than `current`, the
/// newest the caller may have. With `signed_only`, files without the vendor's updater
/// signature are passed over (the Tauri updater refuses them).
pub fn pick<'a>(
    catalog: &'a Catalog,
    channel: &str,
    platform: &str,
    current: &Version,
    terms: &Terms<'_>,
    signed_only: bool,
) -> Result<Pick<'a>> {
    let visible = |p: &&Published| {
        p.release.channel == channel || p.release.channel == licet_proto::releases::DEFAULT_CHANNEL
    };
    if !catalog.releases.iter().any(|p| visible(&p)) {
        return Err(Error::new(
            ErrorCode::ReleaseNotFound,
            format!(
                "{} has no published release on the {channel} channel",
                catalog.product.slug
            ),
        ));
    }
    let for_platform = |p: &'a Published| {
        p.artifacts
            .iter()
            .find(|a| a.platform == platform)
            .map(|a| (p, a))
    };
    let mut candidates = catalog
        .releases
        .iter()
        .filter(visible)
        .filter_map(for_platform)
        .peekable();
    if candidates.peek().is_none() {
        return Err(Error::new(
            ErrorCode::PlatformNotFound,
            format!(
                "{} has no release for {platform} on the {channel} channel",
                catalog.product.slug
            ),
        ));
    }
    let mut newest_refused = None;
    let newer = candidates.take_while(|(p, _)| p.version > *current);
    for (release, artifact) in newer.filter(|(_, a)| !signed_only || a.signature.is_some()) {
        match terms.refusal(release) {
            None => {
                return Ok(Pick::Offer {
                    release,
                    artifact,
                    newer_not_allowed: newest_refused,
                });
            }
            Some(refusal) => {
                newest_refused.get_or_insert(refusal);
            }
        }
    }
    Ok(newest_refused.map_or(Pick::UpToDate, Pick::NotAllowed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use licet_proto::releases::ReleaseState;

    fn release(version: &str, channel: &str, published_at: i64, ent: Option<&str>) -> Published {
        Published {
            release: ReleaseRow {
                id: format!("rel_{version}"),
                product_id: "prd_1".into(),
                product_slug: "app".into(),
                version: version.into(),
                channel: channel.into(),
                notes: String::new(),
                entitlement: ent.map(Into::into),
                state: ReleaseState::Published,
                created_at: published_at,
                published_at: Some(published_at),
                yanked_at: None,
            },
            version: parse_version(version).expect("version"),
            artifacts: vec![ArtifactRow {
                id: format!("art_{version}"),
                release_id: format!("rel_{version}"),
                platform: "linux-x86_64".into(),
                name: "App.AppImage".into(),
                size: 1,
                sha256: "0".repeat(64),
                content_type: "application/octet-stream".into(),
                signature: None,
                downloads: 0,
                created_at: published_at,
            }],
        }
    }

    fn catalog(mut releases: Vec<Published>) -> Catalog {
        releases.sort_by(|a, b| b.version.cmp(&a.version));
        Catalog {
            product: ProductRow {
                id: "prd_1".into(),
                slug: "app".into(),
                name: "App".into(),
                kind: Default::default(),
                max_activations: 1,
                license_duration_secs: None,
                token_lifetime_secs: 3600,
                entitlements: "[]".into(),
                metadata: "{}".into(),
                stripe_price_ids: "[]".into(),
                download_limit: 5,
                trial_secs: None,
                trial_entitlements: None,
                subscription_grace_secs: 0,
                billing_portal_url: None,
                maintenance_secs: None,
                trial_updates: 0,
                floating_lease_secs: None,
                floating_max_borrow_secs: 0,
                created_at: 0,
                updated_at: 0,
            },
            releases,
        }
    }

    fn open() -> Terms<'static> {
        Terms {
            updates_until: None,
            entitlements: &[],
            trial_excluded: false,
        }
    }

    fn offered(pick: Result<Pick<'_>>) -> (Option<String>, Option<(String, NotAllowedReason)>) {
        match pick.expect("a pick") {
            Pick::UpToDate => (None, None),
            Pick::Offer {
                release,
                newer_not_allowed,
                ..
            } => (
                Some(release.release.version.clone()),
                newer_not_allowed.map(|n| (n.version, n.reason)),
            ),
            Pick::NotAllowed(n) => (None, Some((n.version, n.reason))),
        }
    }

    fn v(s: &str) -> Version {
        parse_version(s).expect("version")
    }

    #[test]
    fn the_newest_release_on_the_channel_is_offered() {
        let c = catalog(vec![
            release("1.0.0", "stable", 100, None),
            release("1.1.0", "stable", 200, None),
            release("1.2.0-beta.1", "beta", 300, None),
        ]);
        let stable = pick(&c, "stable", "linux-x86_64", &v("1.0.0"), &open(), false);
        assert_eq!(offered(stable), (Some("1.1.0".into()), None));
        let beta = pick(&c, "beta", "linux-x86_64", &v("1.0.0"), &open(), false);
        assert_eq!(offered(beta), (Some("1.2.0-beta.1".into()), None));
        let current = pick(&c, "stable", "linux-x86_64", &v("1.1.0"), &open(), false);
        assert_eq!(offered(current), (None, None));
    }

    #[test]
    fn maintenance_keeps_what_was_published_in_it() {
        let c = catalog(vec![
            release("1.0.0", "stable", 100, None),
            release("1.1.0", "stable", 200, None),
            release("2.0.0", "stable", 300, None),
        ]);
        let terms = Terms {
            updates_until: Some(250),
            ..open()
        };
        let p = pick(&c, "stable", "linux-x86_64", &v("1.0.0"), &terms, false);
        assert_eq!(
            offered(p),
            (
                Some("1.1.0".into()),
                Some(("2.0.0".into(), NotAllowedReason::UpdatesEnded))
            )
        );
        let p = pick(&c, "stable", "linux-x86_64", &v("1.1.0"), &terms, false);
        assert_eq!(
            offered(p),
            (None, Some(("2.0.0".into(), NotAllowedReason::UpdatesEnded)))
        );
    }

    #[test]
    fn entitlements_and_trials_gate_releases() {
        let c = catalog(vec![
            release("1.0.0", "stable", 100, None),
            release("1.1.0", "stable", 200, Some("pro")),
        ]);
        let p = pick(&c, "stable", "linux-x86_64", &v("1.0.0"), &open(), false);
        assert_eq!(
            offered(p),
            (
                None,
                Some(("1.1.0".into(), NotAllowedReason::EntitlementRequired))
            )
        );
        let pro = ["pro".to_owned()];
        let terms = Terms {
            entitlements: &pro,
            ..open()
        };
        let p = pick(&c, "stable", "linux-x86_64", &v("1.0.0"), &terms, false);
        assert_eq!(offered(p), (Some("1.1.0".into()), None));
        let trial = Terms {
            trial_excluded: true,
            ..terms
        };
        let p = pick(&c, "stable", "linux-x86_64", &v("0.9.0"), &trial, false);
        assert_eq!(
            offered(p),
            (
                None,
                Some(("1.1.0".into(), NotAllowedReason::TrialExcluded))
            )
        );
    }

    #[test]
    fn unknown_channels_and_platforms_have_their_codes() {
        let c = catalog(vec![release("1.0.0", "beta", 100, None)]);
        let code = |r: Result<Pick<'_>>| r.err().map(|e| e.code());
        assert_eq!(
            code(pick(
                &c,
                "stable",
                "linux-x86_64",
                &v("0.1.0"),
                &open(),
                false
            )),
            Some(ErrorCode::ReleaseNotFound)
        );
        assert_eq!(
            code(pick(
                &c,
                "beta",
                "darwin-aarch64",
                &v("0.1.0"),
                &open(),
                false
            )),
            Some(ErrorCode::PlatformNotFound)
        );
        let unsigned = pick(&c, "beta", "linux-x86_64", &v("0.1.0"), &open(), true);
        assert_eq!(
            offered(unsigned),
            (None, None),
            "the Tauri endpoint offers only files with the vendor's updater signature"
        );
    }
}
