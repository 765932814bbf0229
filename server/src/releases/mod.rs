//! Releases and license-gated updates: the vendor publishes versions of a product on
//! channels with one file per platform; licensed apps find, download and verify them.
//!
//! - [`catalog`]: each replica's memory of what is published, and the rule that picks a
//!   caller's update (channels, semver order, the license's end of updates, entitlements).
//! - [`updates`]: the update check (by lease or by key), its signed manifest, the Tauri
//!   updater's shape.
//! - [`links`]: signed, short-lived download URLs of artifacts.
//!
//! A release moves draft → published → yanked, never back. Files are attached to drafts
//! only, so what a client was offered never changes under it; they are stored
//! content-addressed with product files (local or S3).

pub mod catalog;
pub mod customers;
pub mod links;
pub mod updates;

use licet_proto::ErrorCode;
use licet_proto::releases::{
    Artifact, CreateRelease, DEFAULT_CHANNEL, MAX_UPDATER_SIGNATURE_LEN, PublishRelease, Release,
    ReleaseState, parse_version, valid_channel, valid_platform,
};

use crate::auth::Admin;
use crate::platform::crypto::new_id;
use crate::platform::error::{Error, Result};
use crate::store::{ArtifactRow, AttachOutcome, NewAudit, ReleaseRow};

/// What releases need of the app: everything commerce needs (the store, the blob store,
/// the key ring) and the replica's release catalogue.
pub trait Context: crate::commerce::Context {
    /// Published releases in memory.
    fn release_cache(&self) -> &catalog::ReleaseCache;
}

impl<T: Context> Context for std::sync::Arc<T> {
    fn release_cache(&self) -> &catalog::ReleaseCache {
        (**self).release_cache()
    }
}

/// Changes a product's policy ([`crate::catalogue::update_product`]) and drops this
/// replica's memory of it, so update checks here see the change at once (whether trials
/// get releases, for one); other replicas see it within [`catalog::CATALOG_TTL_SECS`].
pub async fn update_product(
    app: &impl Context,
    admin: &Admin,
    slug: &str,
    req: licet_proto::admin::UpdateProduct,
) -> Result<licet_proto::admin::Product> {
    let product = crate::catalogue::update_product(app, admin, slug, req).await?;
    app.release_cache().forget(slug);
    Ok(product)
}

/// Longest release notes accepted, in bytes.
pub const MAX_NOTES_BYTES: usize = 64 * 1024;

/// Creates a draft release of a product.
pub async fn create(
    app: &impl Context,
    admin: &Admin,
    product_slug: &str,
    req: CreateRelease,
) -> Result<Release> {
    let product = crate::catalogue::product(app, product_slug).await?;
    let version = req.version.trim();
    if parse_version(version).is_none() {
        return Err(Error::invalid(
            "version must be a semantic version such as 1.2.0 or 2.0.0-beta.1",
        ));
    }
    let channel = req.channel.as_deref().unwrap_or(DEFAULT_CHANNEL);
    if !valid_channel(channel) {
        return Err(Error::invalid(
            "channel must be 1 to 32 lowercase letters, digits or '-', starting with a letter",
        ));
    }
    check_notes(&req.notes)?;
    let entitlement = req
        .entitlement
        .map(|e| e.trim().to_owned())
        .filter(|e| !e.is_empty());
    if entitlement.as_ref().is_some_and(|e| e.len() > 64) {
        return Err(Error::invalid("entitlement must be at most 64 characters"));
    }
    let now = app.now();
    let row = ReleaseRow {
        id: new_id("rel"),
        product_id: product.id.clone(),
        product_slug: product.slug.clone(),
        version: version.to_owned(),
        channel: channel.to_owned(),
        notes: req.notes,
        entitlement,
        state: ReleaseState::Draft,
        created_at: now,
        published_at: None,
        yanked_at: None,
    };
    let audit = NewAudit::new(
        now,
        admin.actor(),
        "release.created",
        ("release", &row.id),
        serde_json::json!({ "product": product.slug, "version": row.version, "channel": row.channel }),
    );
    if !app.store().create_release(&row, &audit).await? {
        return Err(Error::new(
            ErrorCode::Conflict,
            format!("{} already has a release {}", product.slug, row.version),
        ));
    }
    Ok(to_wire(&row, &[]))
}

fn check_notes(notes: &str) -> Result<()> {
    if notes.len() > MAX_NOTES_BYTES || notes.chars().any(|c| c == '\0') {
        return Err(Error::invalid(format!(
            "notes must be text of at most {MAX_NOTES_BYTES} bytes"
        )));
    }
    Ok(())
}

/// A file to attach to a draft release.
#[derive(Debug, Clone, Copy)]
pub struct NewArtifact<'a> {
    /// `os-arch`.
    pub platform: &'a str,
    /// File name customers save it as.
    pub name: &'a str,
    /// MIME type (default `application/octet-stream`).
    pub content_type: Option<&'a str>,
    /// The vendor's updater signature (e.g. a minisign `.sig` file's content).
    pub signature: Option<&'a str>,
}

/// Streams a file into storage and attaches it to a release: a draft's file for any
/// platform (replacing it), a published release's only for a platform it lacks. Checks
/// everything it can before reading the body; a refusal found after it (a release
/// published meanwhile) is `CONFLICT`, and the bytes already stored stay unreferenced
/// (content-addressed: harmless, reused by an identical upload).
pub async fn attach<S, B, E>(
    app: &impl Context,
    admin: &Admin,
    release_id: &str,
    new: NewArtifact<'_>,
    stream: S,
) -> Result<Release>
where
    S: futures_util::Stream<Item = std::result::Result<B, E>>,
    B: AsRef<[u8]>,
    E: std::fmt::Display,
{
    let release = release_row(app, release_id).await?;
    if release.state == ReleaseState::Yanked {
        return Err(fixed(&release, new.platform));
    }
    if !valid_platform(new.platform) {
        return Err(Error::invalid(
            "platform must be os-arch, e.g. linux-x86_64, darwin-aarch64, windows-x86_64",
        ));
    }
    crate::commerce::downloads::check_name(new.name)?;
    let signature = new.signature.map(str::trim).filter(|s| !s.is_empty());
    if signature.is_some_and(|s| s.len() > MAX_UPDATER_SIGNATURE_LEN || s.contains('\0')) {
        return Err(Error::invalid(format!(
            "signature must be text of at most {MAX_UPDATER_SIGNATURE_LEN} bytes"
        )));
    }
    let (sha256, size) = app
        .blobs()
        .put(stream, crate::commerce::downloads::MAX_FILE_BYTES)
        .await?;
    let now = app.now();
    let row = ArtifactRow {
        id: new_id("art"),
        release_id: release.id.clone(),
        platform: new.platform.to_owned(),
        name: new.name.to_owned(),
        size: i64::try_from(size).unwrap_or(i64::MAX),
        sha256,
        content_type: new
            .content_type
            .unwrap_or("application/octet-stream")
            .to_owned(),
        signature: signature.map(str::to_owned),
        downloads: 0,
        created_at: now,
    };
    let audit = NewAudit::new(
        now,
        admin.actor(),
        "release.artifact_added",
        ("release", &release.id),
        serde_json::json!({ "platform": row.platform, "name": row.name, "size": row.size, "sha256": row.sha256 }),
    );
    match app.store().attach_artifact(&row, &audit).await? {
        AttachOutcome::Attached => {
            app.release_cache().forget(&release.product_slug);
            show(app, &release.id).await
        }
        AttachOutcome::Fixed => Err(fixed(&release, new.platform)),
        AttachOutcome::Missing => Err(no_release()),
    }
}

/// Publishes a draft with at least one file: entitled clients are offered it from now on.
pub async fn publish(
    app: &impl Context,
    admin: &Admin,
    release_id: &str,
    req: PublishRelease,
) -> Result<Release> {
    let release = release_row(app, release_id).await?;
    let now = app.now();
    let at = req.published_at.unwrap_or(now);
    if at > now || at < 0 {
        return Err(Error::invalid("published_at must not be in the future"));
    }
    if app.store().artifacts_of(&release.id).await?.is_empty() {
        return Err(Error::invalid(
            "a release needs at least one file before it is published",
        ));
    }
    let audit = NewAudit::new(
        now,
        admin.actor(),
        "release.published",
        ("release", &release.id),
        serde_json::json!({ "product": release.product_slug, "version": release.version, "published_at": at }),
    );
    if !app
        .store()
        .move_release(
            &release.id,
            ReleaseState::Draft,
            ReleaseState::Published,
            at,
            &audit,
        )
        .await?
    {
        return Err(Error::new(
            ErrorCode::Conflict,
            format!(
                "release {} is {}; only a draft can be published",
                release.version,
                release.state.as_str()
            ),
        ));
    }
    app.release_cache().forget(&release.product_slug);
    show(app, &release.id).await
}

/// Withdraws a published release: no client is offered or can download it any more.
pub async fn yank(app: &impl Context, admin: &Admin, release_id: &str) -> Result<Release> {
    let release = release_row(app, release_id).await?;
    let now = app.now();
    let audit = NewAudit::new(
        now,
        admin.actor(),
        "release.yanked",
        ("release", &release.id),
        serde_json::json!({ "product": release.product_slug, "version": release.version }),
    );
    if !app
        .store()
        .move_release(
            &release.id,
            ReleaseState::Published,
            ReleaseState::Yanked,
            now,
            &audit,
        )
        .await?
    {
        return Err(Error::new(
            ErrorCode::Conflict,
            format!(
                "release {} is {}; only a published release can be yanked",
                release.version,
                release.state.as_str()
            ),
        ));
    }
    app.release_cache().forget(&release.product_slug);
    show(app, &release.id).await
}

/// Every release of a product (all states), newest first.
pub async fn list(app: &impl Context, product_slug: &str) -> Result<Vec<Release>> {
    let product = crate::catalogue::product(app, product_slug).await?;
    let mut releases: Vec<Release> = app
        .store()
        .releases_of(&product.id, false)
        .await?
        .iter()
        .map(|(r, a)| to_wire(r, a))
        .collect();
    releases.sort_by(
        |a, b| match (parse_version(&b.version), parse_version(&a.version)) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => b.created_at.cmp(&a.created_at),
        },
    );
    Ok(releases)
}

/// One release with its files.
pub async fn show(app: &impl Context, release_id: &str) -> Result<Release> {
    let release = release_row(app, release_id).await?;
    let artifacts = app.store().artifacts_of(&release.id).await?;
    Ok(to_wire(&release, &artifacts))
}

/// A release by id, or by `product@version` / `product` and version.
pub async fn find(app: &impl Context, product_slug: &str, version: &str) -> Result<Release> {
    let product = crate::catalogue::product(app, product_slug).await?;
    let row = app
        .store()
        .release_by_version(&product.id, version.trim())
        .await?
        .ok_or_else(no_release)?;
    show(app, &row.id).await
}

async fn release_row(app: &impl Context, id: &str) -> Result<ReleaseRow> {
    app.store().release(id).await?.ok_or_else(no_release)
}

fn no_release() -> Error {
    Error::new(ErrorCode::NotFound, "no such release")
}

fn fixed(release: &ReleaseRow, platform: &str) -> Error {
    Error::new(
        ErrorCode::Conflict,
        format!(
            "release {} is {} and its {platform} file is fixed; publish a new version instead",
            release.version,
            release.state.as_str()
        ),
    )
}

/// The admin API's view.
pub fn to_wire(r: &ReleaseRow, artifacts: &[ArtifactRow]) -> Release {
    Release {
        id: r.id.clone(),
        product: r.product_slug.clone(),
        version: r.version.clone(),
        channel: r.channel.clone(),
        notes: r.notes.clone(),
        entitlement: r.entitlement.clone(),
        state: r.state,
        created_at: r.created_at,
        published_at: r.published_at,
        yanked_at: r.yanked_at,
        artifacts: artifacts
            .iter()
            .map(|a| Artifact {
                id: a.id.clone(),
                platform: a.platform.clone(),
                name: a.name.clone(),
                size: u64::try_from(a.size).unwrap_or(0),
                sha256: a.sha256.clone(),
                signature: a.signature.clone(),
                downloads: u64::try_from(a.downloads).unwrap_or(0),
                created_at: a.created_at,
            })
            .collect(),
    }
}
