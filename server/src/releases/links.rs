//! Download URLs of release artifacts: stateless, signed, short-lived.
//!
//! `/v1/releases/artifacts/{id}?expires=…&kid=…&sig=…`, HMAC-SHA256 under a key derived
//! from the master key, so any replica can check a URL another one made, with no database
//! row per URL. The entitlement was checked when the URL was made (an update check, the
//! portal); the URL itself only proves that, for its short life. Downloads of artifacts do
//! not draw on a purchase's download budget: they are counted per release and platform.

use licet_proto::ErrorCode;

use super::Context;
use crate::commerce::downloads::{Grant, content_disposition, parse_range};
use crate::platform::crypto::{ct_eq, hex, hmac_sha256};
use crate::platform::error::{Error, Result};
use crate::store::{ArtifactRow, FileRow};

/// Key id of the URL-signing key (a new id, and key, can be added while old URLs work).
pub const ARTIFACT_URL_KID: &str = "a1";
/// How long an update check's download URL (and its manifest) lives, in seconds.
pub const UPDATE_URL_SECS: i64 = 3600;

fn mac(app: &impl Context, kid: &str, artifact_id: &str, expires: i64) -> String {
    let key = app.master().derive(&format!("artifact-url {kid}"));
    hex(&hmac_sha256(
        key.as_ref(),
        format!("{artifact_id}:{expires}").as_bytes(),
    ))
}

/// The signed URL of an artifact, valid until `expires`.
pub fn artifact_url(app: &impl Context, artifact_id: &str, expires: i64) -> String {
    format!(
        "{}/v1/releases/artifacts/{artifact_id}?expires={expires}&kid={ARTIFACT_URL_KID}&sig={}",
        app.config().public_url,
        mac(app, ARTIFACT_URL_KID, artifact_id, expires)
    )
}

/// Checks a signed artifact URL (403 for a bad signature, 410 when expired) and resolves
/// the artifact. A download from the first byte counts once for its release and platform.
pub async fn open(
    app: &impl Context,
    artifact_id: &str,
    expires: i64,
    kid: &str,
    sig: &str,
    range: Option<&str>,
    head: bool,
) -> Result<Grant> {
    let forbidden = || Error::new(ErrorCode::Forbidden, "the link's signature is not valid");
    if kid != ARTIFACT_URL_KID {
        return Err(forbidden());
    }
    if !ct_eq(
        mac(app, kid, artifact_id, expires).as_bytes(),
        sig.as_bytes(),
    ) {
        return Err(forbidden());
    }
    if app.now() >= expires {
        return Err(Error::new(ErrorCode::LinkExpired, "this link has expired"));
    }
    let (artifact, release) = app
        .store()
        .artifact(artifact_id)
        .await?
        .ok_or_else(|| Error::new(ErrorCode::NotFound, "no such file"))?;
    if release.state == licet_proto::releases::ReleaseState::Yanked {
        return Err(Error::new(
            ErrorCode::NotFound,
            "this release has been withdrawn",
        ));
    }
    let range = parse_range(range, u64::try_from(artifact.size).unwrap_or(0))?;
    if !head && range.is_none_or(|r| r.start == 0) {
        app.store().count_artifact_download(&artifact.id).await?;
    }
    let location = app
        .blobs()
        .locate(&artifact.sha256, &content_disposition(&artifact.name))
        .await?;
    Ok(Grant {
        file: as_file(artifact, &release.product_id),
        location,
        range,
    })
}

/// An artifact in the shape the download responder serves.
fn as_file(a: ArtifactRow, product_id: &str) -> FileRow {
    FileRow {
        id: a.id,
        product_id: product_id.to_owned(),
        name: a.name,
        size: a.size,
        sha256: a.sha256,
        content_type: a.content_type,
        created_at: a.created_at,
    }
}
